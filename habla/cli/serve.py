"""``habla serve``: the OpenAI-compatible HTTP API (uvicorn). Defaults come from HABLA_SERVER__*."""

from __future__ import annotations


import typer

GRACEFUL_SHUTDOWN_SECONDS = 10  # open streams get this long to finish on SIGTERM


def serve(
    host: str | None = typer.Option(None, help="Address to listen on (default HABLA_SERVER__HOST, 127.0.0.1)."),
    port: int | None = typer.Option(None, min=1, max=65535, help="Port (default HABLA_SERVER__PORT, 8000)."),
    workers: int = typer.Option(1, min=1, max=64, help="Server processes; each loads its own models."),
) -> None:
    """Serve /v1/audio/transcriptions, /v1/jobs, /v1/chat/completions and more; API docs at /docs."""
    import uvicorn

    from habla.config import load_settings

    settings = load_settings()
    from habla.server.app import create_app
    from habla.storage import open_store

    # wrong credentials, a missing bucket: one error line now, not per request
    open_store(settings.jobs, settings.home).check()

    app = create_app(settings) if workers == 1 else None
    host = host or settings.server.host
    port = port or settings.server.port
    typer.echo(f"habla serve: http://{host}:{port} (API docs at /docs, {workers} worker(s))", err=True)
    # Several workers need an import string: each process builds its own app from the environment.
    target = app if app is not None else "habla.server.app:app_from_env"
    uvicorn.run(target, host=host, port=port, workers=workers if app is None else None,
                factory=app is None, log_level=settings.log_level.lower(),
                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS)


def register(app: typer.Typer) -> None:
    app.command()(serve)
