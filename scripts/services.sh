#!/usr/bin/env bash
# Redis and PostgreSQL for habla's distributed jobs and system tests, on 127.0.0.1 only, with their data in a
# project-local folder. Idempotent: `start` installs what is missing and starts what is not running.
#
#   bash scripts/services.sh start|stop|status|env
#
# `env` prints the HABLA_JOBS__* settings that point habla at these services.
# Ports and folder: SERVICES_REDIS_PORT (6390), SERVICES_PG_PORT (5433), SERVICES_DIR (<repo>/.services).
set -euo pipefail
cd "$(dirname "$0")/.."

REDIS_PORT=${SERVICES_REDIS_PORT:-6390}
PG_PORT=${SERVICES_PG_PORT:-5433}
DIR=$(realpath -m "${SERVICES_DIR:-.services}")
PG_DATA="$DIR/postgres"
REDIS_DIR="$DIR/redis"
DB=habla
DB_USER=habla
DB_PASSWORD=habla

if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi

log() { echo "services: $*"; }

install_missing() {
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

pg_bin() { ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1; }

# PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` system user.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

redis_up() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

start_redis() {
  if redis_up; then log "redis already running on 127.0.0.1:$REDIS_PORT"; return; fi
  mkdir -p "$REDIS_DIR"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --dir "$REDIS_DIR" \
    --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" \
    --appendonly yes --appendfsync everysec --save "" --protected-mode yes
  for _ in $(seq 50); do redis_up && break; sleep 0.1; done
  redis_up || { log "redis did not start; see $REDIS_DIR/redis.log"; exit 1; }
  log "redis running on 127.0.0.1:$REDIS_PORT"
}

pg_ctl_cmd() { as_pg "$(pg_bin)/pg_ctl" -D "$PG_DATA" "$@"; }

start_postgres() {
  mkdir -p "$PG_DATA"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$PG_DATA"; chmod 700 "$PG_DATA"; fi
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    log "initialising a PostgreSQL cluster in $PG_DATA"
    as_pg "$(pg_bin)/initdb" -D "$PG_DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  if pg_ctl_cmd status >/dev/null 2>&1; then
    log "postgresql already running on 127.0.0.1:$PG_PORT"
  else
    # The socket lives in the data folder, so nothing outside it is touched.
    pg_ctl_cmd -w -t 60 -l "$PG_DATA/server.log" \
      -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories=$PG_DATA" start >/dev/null
    log "postgresql running on 127.0.0.1:$PG_PORT"
  fi
  create_database
}

psql_admin() { as_pg "$(pg_bin)/psql" -h "$PG_DATA" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qtA "$@"; }

create_database() {
  if [ -z "$(psql_admin -d postgres -c "SELECT 1 FROM pg_roles WHERE rolname='$DB_USER'")" ]; then
    psql_admin -d postgres -c "CREATE ROLE $DB_USER LOGIN PASSWORD '$DB_PASSWORD'"
  fi
  if [ -z "$(psql_admin -d postgres -c "SELECT 1 FROM pg_database WHERE datname='$DB'")" ]; then
    psql_admin -d postgres -c "CREATE DATABASE $DB OWNER $DB_USER"
    log "created database $DB (user $DB_USER)"
  fi
}

print_env() {
  echo "HABLA_JOBS__MODE=distributed"
  echo "HABLA_JOBS__BROKER_URL=redis://127.0.0.1:$REDIS_PORT/0"
  echo "HABLA_JOBS__DATABASE_URL=postgresql+psycopg://$DB_USER:$DB_PASSWORD@127.0.0.1:$PG_PORT/$DB"
}

stop_all() {
  if redis_up; then redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true; log "redis stopped"; fi
  if [ -f "$PG_DATA/PG_VERSION" ] && pg_ctl_cmd status >/dev/null 2>&1; then
    pg_ctl_cmd -w -m fast stop >/dev/null
    log "postgresql stopped"
  fi
}

status() {
  redis_up && log "redis: running on 127.0.0.1:$REDIS_PORT" || log "redis: stopped"
  if [ -f "$PG_DATA/PG_VERSION" ] && pg_ctl_cmd status >/dev/null 2>&1; then
    log "postgresql: running on 127.0.0.1:$PG_PORT"
  else
    log "postgresql: stopped"
  fi
}

case "${1:-}" in
  start) install_missing; start_redis; start_postgres; print_env ;;
  stop) stop_all ;;
  status) status ;;
  env) print_env ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
