"""A real S3-compatible HTTP server for tests: moto's standalone server (``moto_server``) as a subprocess on
127.0.0.1 and a free port. It keeps objects in memory; ``pause()``/``resume()`` (SIGSTOP/SIGCONT) make it
unresponsive and bring it back with its objects, as a store behind a broken network would be."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

MOTO_SERVER = Path(sys.executable).with_name("moto_server")
KEYS = {"AWS_ACCESS_KEY_ID": "habla-test", "AWS_SECRET_ACCESS_KEY": "habla-test-secret"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MotoS3:
    keys_env: ClassVar[dict[str, str]] = KEYS

    def __init__(self, log: Path, auth: bool = False) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**os.environ, "MOTO_PORT": str(self.port)}
        if auth:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"  # every request must carry a key moto's IAM knows
        self.proc = subprocess.Popen([str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(self.port)], env=env,
                                     stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
        self._wait(log)

    def _wait(self, log: Path) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                assert self.proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, f"moto_server did not start: {log.read_text()}"
                time.sleep(0.1)

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id=self.keys_env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=self.keys_env["AWS_SECRET_ACCESS_KEY"],
                            config=Config(s3={"addressing_style": "path"}))

    def bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))

    def multipart_uploads(self, bucket: str) -> list[str]:
        return [u["Key"] for u in self.client().list_multipart_uploads(Bucket=bucket).get("Uploads", ())]

    def settings_env(self, bucket: str, prefix: str = "habla") -> dict[str, str]:
        """The environment that points habla at this server."""
        return {"HABLA_JOBS__STORAGE_URL": f"s3://{bucket}/{prefix}", "HABLA_JOBS__STORAGE_ENDPOINT_URL": self.url,
                "HABLA_JOBS__STORAGE_REGION": "us-east-1",
                "HABLA_JOBS__STORAGE_ACCESS_KEY_ID": self.keys_env["AWS_ACCESS_KEY_ID"],
                "HABLA_JOBS__STORAGE_SECRET_ACCESS_KEY": self.keys_env["AWS_SECRET_ACCESS_KEY"]}

    def pause(self) -> None:
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.killpg(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGCONT)
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def __enter__(self) -> MotoS3:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class S3rver(MotoS3):
    """npm's s3rver (objects on disk, Node's HTTP server) for benchmarks, where moto's Python server is the
    bottleneck: ``npm install --prefix .bench s3rver@3.7.1`` puts it at .bench/node_modules/.bin/s3rver."""

    keys_env: ClassVar[dict[str, str]] = {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER"}  # its only

    def __init__(self, log: Path, binary: Path, data: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        data.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([str(binary), "-d", str(data), "-a", "127.0.0.1", "-p", str(self.port),
                                      "--silent"], stdout=log.open("ab"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self._wait(log)
