"""S3-compatible object storage through boto3 (AWS S3, MinIO, Ceph RGW, Garage, moto...).

boto3 over obstore: on this machine (loopback moto server, 256 MB, 2 rounds interleaved, shared 2-core box) boto3
uploaded at 58-59 MB/s and obstore at 32-51 MB/s; boto3 also reads every AWS credential source (profiles, SSO,
instance roles) and presigns GETs with response headers. Uploads use multipart with ``part`` bytes per part, so a
killed writer leaves only an unfinished multipart upload, which no reader sees (a bucket lifecycle rule
``AbortIncompleteMultipartUpload`` frees its parts; docs/storage.md).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlparse

from habla.errors import HablaError, ObjectMissing, StorageMisconfigured, StorageUnavailable
from habla.storage.protocol import CHUNK, ObjectRead, check_name, write_stream

log = logging.getLogger(__name__)

DELETE_BATCH = 1000  # the most keys one DeleteObjects request takes
_MISSING = {"NoSuchKey", "404", "NotFound"}
_REFUSED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "NoSuchBucket", "403",
            "AllAccessDisabled", "InvalidBucketName", "PermanentRedirect", "AuthorizationHeaderMalformed"}


def parse_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → (bucket, ``some/prefix``)."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise StorageMisconfigured(f"unsupported storage URL {url!r}", hint="use s3://bucket or s3://bucket/prefix")
    prefix = parsed.path.strip("/")
    if prefix:
        check_name(prefix)
    return parsed.netloc, prefix


class S3ObjectStore:
    def __init__(self, url: str, *, endpoint_url: str | None = None, region: str | None = None,
                 access_key_id: str | None = None, secret_access_key: str | None = None,
                 part_bytes: int = 8 << 20, concurrency: int = 4, timeout: float = 10.0,
                 checksums: bool = False) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.bucket, self.prefix = parse_url(url)
        where = f" at {endpoint_url}" if endpoint_url else ""
        self.description = f"s3://{self.bucket}/{self.prefix}{where}".replace(f"{self.bucket}/ at", f"{self.bucket} at")
        s3: dict[str, Any] = {"addressing_style": "path" if endpoint_url else "auto"}
        hashing: dict[str, Any] = {}
        if not checksums:
            # botocore hashes every body twice by default: SHA-256 for the signature (always over http) and a
            # CRC32 checksum. py-spy put both at the top of the API's S3 costs (0.65 + 0.42 CPU-s per uploaded GB);
            # without them a body is signed as UNSIGNED-PAYLOAD (as AWS's SDKs do over https) and a checksum is
            # sent only where S3 requires one (DeleteObjects).
            s3["payload_signing_enabled"] = False
            hashing = {"request_checksum_calculation": "when_required",
                       "response_checksum_validation": "when_required"}
        config = Config(connect_timeout=timeout, read_timeout=timeout, signature_version="s3v4",
                        retries={"max_attempts": 2, "mode": "standard"},  # longer outages: the callers' backoff
                        s3=s3, **hashing)
        session = boto3.session.Session()
        self.client = session.client("s3", endpoint_url=endpoint_url, region_name=region,
                                     aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key,
                                     config=config)
        self.part_bytes, self.concurrency = part_bytes, concurrency
        self.transfer = TransferConfig(multipart_threshold=part_bytes, multipart_chunksize=part_bytes,
                                       max_concurrency=concurrency, io_chunksize=CHUNK)
        self.transfer.max_in_memory_download_chunks = concurrency

    def _errors(self, name: str) -> AbstractContextManager[None]:
        return _errors(name, self.bucket)

    def key(self, name: str) -> str:
        check_name(name)
        return f"{self.prefix}/{name}" if self.prefix else name

    def _name(self, key: str) -> str:
        return key[len(self.prefix) + 1:] if self.prefix else key

    def put(self, name: str, stream: BinaryIO, max_bytes: int | None = None, hint: str = "") -> int:
        return write_stream(self.writer(name), stream, max_bytes, hint)

    def writer(self, name: str) -> MultipartWriter:
        return MultipartWriter(self, name)

    def put_bytes(self, name: str, data: bytes) -> None:
        with self._errors(name):
            self.client.put_object(Bucket=self.bucket, Key=self.key(name), Body=data)

    def put_file(self, name: str, path: Path) -> None:
        with self._errors(name):
            self.client.upload_file(str(path), self.bucket, self.key(name), Config=self.transfer)

    def open(self, name: str, start: int = 0, end: int | None = None) -> ObjectRead:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key(name)}
        if start or end is not None:
            args["Range"] = f"bytes={start}-{'' if end is None else end}"
        with self._errors(name):
            reply = self.client.get_object(**args)
        body = reply["Body"]
        length = int(reply["ContentLength"])
        size = int(reply.get("ContentRange", "").rpartition("/")[2] or length)

        def chunks() -> Iterator[bytes]:
            try:
                with self._errors(name):
                    yield from body.iter_chunks(CHUNK)
            finally:
                body.close()

        return ObjectRead(chunks(), size, start, start + length - 1, body.close)

    def read_bytes(self, name: str, offset: int = 0) -> bytes:
        try:
            read = self.open(name, offset) if offset else self.open(name)
        except StorageUnavailable as exc:
            if "InvalidRange" in str(exc):  # offset at the end: nothing new
                return b""
            raise
        return b"".join(read.chunks)

    def exists(self, name: str) -> bool:
        try:
            with self._errors(name):
                self.client.head_object(Bucket=self.bucket, Key=self.key(name))
        except ObjectMissing:
            return False
        return True

    def list(self, prefix: str) -> list[str]:
        key_prefix = f"{self.prefix}/{prefix}" if self.prefix else prefix
        names = []
        with self._errors(prefix):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=key_prefix):
                names += [self._name(item["Key"]) for item in page.get("Contents", ())]
        return sorted(names)

    def delete(self, *names: str) -> None:
        keys = [self.key(name) for name in names if name]
        for i in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": key} for key in keys[i:i + DELETE_BATCH]]
            with self._errors(keys[i]):
                reply = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            if reply.get("Errors"):
                first = reply["Errors"][0]
                raise StorageUnavailable(f"the store did not delete {first.get('Key')}: {first.get('Message')}")

    def delete_prefix(self, prefix: str) -> int:
        names = self.list(prefix.rstrip("/") + "/")
        self.delete(*names)
        return len(names)

    def local_path(self, name: str) -> Path | None:
        return None

    @contextmanager
    def local_copy(self, name: str) -> Iterator[Path]:
        """One streamed GET into a temporary file (no HEAD, no transfer threads: a short clip costs one request)."""
        handle, tmp = tempfile.mkstemp(prefix="habla-", suffix="-" + name.rsplit("/", 1)[-1])
        try:
            read = self.open(name)
            with os.fdopen(handle, "wb") as out:
                handle = -1
                for chunk in read.chunks:
                    out.write(chunk)
            yield Path(tmp)
        finally:
            if handle >= 0:
                os.close(handle)
            Path(tmp).unlink(missing_ok=True)

    def presigned_url(self, name: str, expires_seconds: int, filename: str | None = None,
                      media_type: str | None = None) -> str | None:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key(name)}
        if media_type:
            params["ResponseContentType"] = media_type
        if filename:
            params["ResponseContentDisposition"] = f'inline; filename="{_quote_safe(filename)}"'
        with self._errors(name):
            return str(self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_seconds))

    def check(self) -> None:
        with self._errors(""):
            self.client.head_bucket(Bucket=self.bucket)


class MultipartWriter:
    """One object as an S3 multipart upload of ``part_bytes`` parts, at most ``concurrency`` of them in flight
    (so memory stays at about part × (concurrency + 1) whatever the object's size). An object that fits in
    one block is one PutObject: a short clip costs one request, not three. Nothing is visible before
    CompleteMultipartUpload; abort (or a killed process) leaves only an unfinished upload, which no reader sees."""

    def __init__(self, store: S3ObjectStore, name: str) -> None:
        self.store, self.name, self.key = store, name, store.key(name)
        self.block_bytes = store.part_bytes
        self.blocks_kept = store.concurrency - 1  # ready() leaves fewer than ``concurrency`` parts in flight
        self.upload_id: str | None = None
        self.parts: list[Future[str]] = []  # ETags, in part order
        self.in_flight: deque[Future[str]] = deque()
        self.pool: ThreadPoolExecutor | None = None

    def write(self, block: bytes | bytearray) -> None:
        if self.upload_id is None:
            with self.store._errors(self.name):
                reply = self.store.client.create_multipart_upload(Bucket=self.store.bucket, Key=self.key)
            self.upload_id = str(reply["UploadId"])
            self.pool = ThreadPoolExecutor(self.store.concurrency, thread_name_prefix="habla-s3-part")
        self.ready()
        assert self.pool is not None
        future = self.pool.submit(self._part, len(self.parts) + 1, block)
        self.parts.append(future)
        self.in_flight.append(future)

    def ready(self) -> None:
        while self.in_flight and (self.in_flight[0].done() or len(self.in_flight) >= self.store.concurrency):
            self.in_flight.popleft().result()  # a failed part fails the upload now, not at the end

    def _part(self, number: int, block: bytes | bytearray) -> str:
        with self.store._errors(self.name):
            reply = self.store.client.upload_part(Bucket=self.store.bucket, Key=self.key, UploadId=self.upload_id,
                                                  PartNumber=number, Body=block)
        return str(reply["ETag"])

    def commit(self, last: bytes = b"") -> None:
        if self.upload_id is None:
            self.store.put_bytes(self.name, last)
            return
        if last:
            self.write(last)
        parts = [{"ETag": future.result(), "PartNumber": number} for number, future in enumerate(self.parts, 1)]
        with self.store._errors(self.name):
            self.store.client.complete_multipart_upload(Bucket=self.store.bucket, Key=self.key,
                                                        UploadId=self.upload_id, MultipartUpload={"Parts": parts})
        self._close()

    def abort(self) -> None:
        upload_id, self.upload_id = self.upload_id, None
        self._close()
        if upload_id is None:
            return
        try:
            with self.store._errors(self.name):
                self.store.client.abort_multipart_upload(Bucket=self.store.bucket, Key=self.key, UploadId=upload_id)
        except HablaError as exc:  # the store is gone: its lifecycle rule frees the parts (docs/storage.md)
            log.warning("unfinished upload of %s not aborted: %s", self.name, exc)

    def _close(self) -> None:
        if self.pool is not None:
            for future in self.in_flight:
                future.cancel()
            self.pool.shutdown(wait=True)
            self.pool = None
        self.in_flight.clear()


def _quote_safe(filename: str) -> str:
    return "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename)


@contextmanager
def _errors(name: str, bucket: str) -> Iterator[None]:
    """botocore's exceptions → habla's: missing object, refused (credentials, bucket) or unavailable."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

    try:
        yield
    except HablaError:
        raise
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise StorageMisconfigured(f"no usable S3 credentials: {exc}",
                                   hint="set HABLA_JOBS__STORAGE_ACCESS_KEY_ID and _SECRET_ACCESS_KEY, or AWS_*"
                                   ) from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        message = error.get("Message") or code
        if code in _MISSING and name:
            raise ObjectMissing(f"no stored object {name!r}") from None
        if code in ("NoSuchBucket", "404", "NotFound"):
            raise StorageMisconfigured(f"the bucket {bucket!r} does not exist",
                                       hint="create it, or fix HABLA_JOBS__STORAGE_URL") from None
        if code in _REFUSED or status in (301, 400, 403):
            raise StorageMisconfigured(f"the object store refused access to bucket {bucket!r}: {message} ({code})",
                                       hint="wrong credentials, or no permission on the bucket: check "
                                       "HABLA_JOBS__STORAGE_ACCESS_KEY_ID / _SECRET_ACCESS_KEY or AWS_*") from None
        raise StorageUnavailable(f"the object store failed: {message} ({code})",
                                 hint="try again later") from None
    except (BotoCoreError, OSError) as exc:
        raise StorageUnavailable(f"the object store is unreachable: {type(exc).__name__}",
                                 hint="try again later") from None
