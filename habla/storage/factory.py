"""Build the configured ObjectStore from settings (the local folder unless HABLA_JOBS__STORAGE_URL is set)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from habla.errors import StorageMisconfigured
from habla.storage.protocol import ObjectStore

if TYPE_CHECKING:
    from habla.config import JobsSettings


def open_store(jobs: JobsSettings, home: Path) -> ObjectStore:
    """The jobs' object store: S3 when ``storage_url`` is set, else a folder (by default under ``home``)."""
    if jobs.storage_url:
        from habla.storage.s3 import S3ObjectStore

        try:
            import boto3  # noqa: F401 - only to say what is missing
        except ImportError:
            raise StorageMisconfigured("S3 storage needs boto3", hint="pip install 'habla[s3]'") from None
        secret = jobs.storage_secret_access_key.get_secret_value() if jobs.storage_secret_access_key else None
        return S3ObjectStore(jobs.storage_url, endpoint_url=jobs.storage_endpoint_url, region=jobs.storage_region,
                             access_key_id=jobs.storage_access_key_id, secret_access_key=secret,
                             part_bytes=jobs.storage_part_mb << 20, concurrency=jobs.storage_concurrency,
                             timeout=jobs.storage_timeout_seconds, checksums=jobs.storage_checksums)
    from habla.storage.local import LocalObjectStore

    return LocalObjectStore(Path(jobs.storage_dir or Path(home) / "jobs" / "files"))


def store_description(jobs: JobsSettings, home: Path) -> str:
    return jobs.storage_url or str(jobs.storage_dir or Path(home) / "jobs" / "files")
