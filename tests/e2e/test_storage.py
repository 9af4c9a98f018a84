"""The ObjectStore contract on both backends: the local folder and S3 on a real HTTP server (moto_server)."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from habla.errors import ObjectMissing, StorageMisconfigured, StorageUnavailable, UploadTooLarge
from habla.storage import ObjectStore
from habla.storage.local import LocalObjectStore
from habla.storage.s3 import S3ObjectStore
from tests.s3server import KEYS, MotoS3, free_port

MB = 1 << 20


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    with MotoS3(tmp_path_factory.mktemp("moto") / "moto.log") as server:
        server.bucket("contract")
        yield server


def s3_store(url: str, endpoint: str, **kw: object) -> S3ObjectStore:
    return S3ObjectStore(url, endpoint_url=endpoint, region="us-east-1", access_key_id=KEYS["AWS_ACCESS_KEY_ID"],
                         secret_access_key=KEYS["AWS_SECRET_ACCESS_KEY"], timeout=3, **kw)  # type: ignore[arg-type]


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return LocalObjectStore(tmp_path / "files")
    moto = request.getfixturevalue("moto")
    return s3_store(f"s3://contract/{tmp_path.name}", moto.url, part_bytes=5 * MB, concurrency=2)


def test_put_get_list_delete(store: ObjectStore) -> None:
    store.check()
    assert store.put("uploads/a", io.BytesIO(b"hello world")) == 11
    store.put_bytes("results/j1/1/transcript.txt", "ñandú\n".encode())
    store.put_bytes("results/j1/2/transcript.txt", b"two")
    assert store.read_bytes("uploads/a") == b"hello world"
    assert store.read_bytes("uploads/a", 6) == b"world"
    assert store.read_bytes("uploads/a", 11) == b""
    read = store.open("uploads/a", 2, 4)
    assert b"".join(read.chunks) == b"llo" and (read.size, read.start, read.end, read.partial) == (11, 2, 4, True)
    assert store.exists("uploads/a") and not store.exists("uploads/b")
    assert store.list("results/j1/") == ["results/j1/1/transcript.txt", "results/j1/2/transcript.txt"]
    with store.local_copy("results/j1/1/transcript.txt") as path:
        assert path.read_text(encoding="utf-8") == "ñandú\n"
    assert store.delete_prefix("results/j1") == 2 and store.list("results/") == []
    store.delete("uploads/a", "uploads/never-there")
    with pytest.raises(ObjectMissing):
        store.read_bytes("uploads/a")
    with pytest.raises(ObjectMissing):
        store.open("uploads/a")


def test_multipart_upload_streams_and_the_limit_holds_while_streaming(store: ObjectStore) -> None:
    data = bytes(range(256)) * (48 * 1024)  # 12 MB: three 5 MB parts on S3
    assert store.put("uploads/big", io.BytesIO(data), max_bytes=len(data)) == len(data)
    assert store.read_bytes("uploads/big") == data
    with pytest.raises(UploadTooLarge):
        store.put("uploads/too-big", io.BytesIO(data), max_bytes=len(data) - 1, hint="raise it")
    assert store.list("uploads/") == ["uploads/big"]  # no half object of the refused one


@pytest.mark.parametrize("checksums", [False, True])
def test_bodies_are_hashed_only_when_checksums_are_on(moto: MotoS3, tmp_path: Path, checksums: bool) -> None:
    """Off (the default), a part goes as UNSIGNED-PAYLOAD with no CRC32 (the API's largest S3 costs); on, botocore's
    own signed, checksummed requests. Either way the server stores the same bytes, and DeleteObjects (which S3
    requires a checksum for) still works."""
    store = s3_store(f"s3://contract/{tmp_path.name}", moto.url, part_bytes=5 * MB, concurrency=2,
                     checksums=checksums)
    sent: list[tuple[str, dict[str, str]]] = []
    store.client.meta.events.register(
        "before-send.s3.*", lambda request, **_: sent.append((request.url, dict(request.headers.items()))))
    data = bytes(range(256)) * (24 * 1024)  # 6 MB: two parts
    store.put("uploads/hashed", io.BytesIO(data))
    assert store.read_bytes("uploads/hashed") == data
    parts = [headers for url, headers in sent if "partNumber=" in url]
    assert len(parts) == 2
    for headers in parts:
        signed = _header(headers, "x-amz-content-sha256")
        has_crc = any(name.lower().startswith("x-amz-checksum-") for name in headers)
        if checksums:
            assert len(signed) == 64 and has_crc
        else:
            assert signed == "UNSIGNED-PAYLOAD" and not has_crc
    store.delete("uploads/hashed")
    assert not store.exists("uploads/hashed")


def _header(headers: dict[str, str], name: str) -> str:
    value = next((v for k, v in headers.items() if k.lower() == name), "")
    return value.decode() if isinstance(value, bytes) else value


def test_names_cannot_leave_the_store(store: ObjectStore) -> None:
    for name in ("../x", "/etc/passwd", "a/../../b", "", "a//b"):
        with pytest.raises(Exception, match="invalid storage"):
            store.put_bytes(name, b"x")


def test_presigned_url_serves_the_object_to_a_plain_client(moto: MotoS3, tmp_path: Path) -> None:
    store = s3_store(f"s3://contract/{tmp_path.name}", moto.url)
    store.put_bytes("uploads/clip", b"RIFF....WAVE")
    url = store.presigned_url("uploads/clip", 60, filename="my clip.wav", media_type="audio/wav")
    assert url and "Signature" in url
    reply = httpx.get(url)
    assert reply.status_code == 200 and reply.content == b"RIFF....WAVE"
    assert reply.headers["content-type"] == "audio/wav" and "my clip.wav" in reply.headers["content-disposition"]
    assert LocalObjectStore(tmp_path).presigned_url("x", 60) is None


def test_a_missing_bucket_wrong_keys_or_no_server_are_told_apart(moto: MotoS3, tmp_path: Path) -> None:
    with pytest.raises(StorageMisconfigured, match="bucket 'nope' does not exist"):
        s3_store("s3://nope/x", moto.url).check()
    with MotoS3(tmp_path / "auth.log", auth=True) as strict:  # checks keys: ours are unknown to it
        strict_store = s3_store("s3://contract/x", strict.url)
        with pytest.raises(StorageMisconfigured, match=r"refused access.*wrong credentials"):
            strict_store.check()
    with pytest.raises(StorageUnavailable, match="unreachable"):
        s3_store("s3://contract/x", f"http://127.0.0.1:{free_port()}").check()
    with pytest.raises(StorageMisconfigured, match="unsupported storage URL"):
        s3_store("http://contract/x", moto.url)


def test_a_writer_killed_mid_upload_leaves_no_object(moto: MotoS3, tmp_path: Path) -> None:
    """SIGKILL while a multipart upload is half sent: readers see no object (only an unfinished upload)."""
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from tests.e2e.test_storage import s3_store
        class Slow:
            sent = 0
            def read(self, n=-1):
                if self.sent >= 6 << 20:
                    print("half", flush=True)
                    time.sleep(60)
                self.sent += 1 << 20
                return b"x" * (1 << 20)
        s3_store("s3://contract/killed", {moto.url!r}, part_bytes=5 << 20).put("uploads/half", Slow())
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "half"
    deadline = time.monotonic() + 30
    while not moto.multipart_uploads("contract") and time.monotonic() < deadline:
        time.sleep(0.1)  # the first part is on its way
    proc.kill()
    proc.wait()
    assert moto.keys("contract", "killed/") == []
    assert "killed/uploads/half" in moto.multipart_uploads("contract")  # invisible; a lifecycle rule frees it


def test_tutor_files_go_to_the_store_and_come_back_through_the_cache(moto: MotoS3, tmp_path: Path) -> None:
    from habla.tutor.files import TutorFiles

    store = s3_store(f"s3://contract/{tmp_path.name}", moto.url)
    files = TutorFiles(store, tmp_path / "scratch")
    part = files.save_upload(io.BytesIO(b"RIFF turn audio"), "tut_1", 1, max_bytes=100)
    kept = files.keep(part, "wav")
    stored = files.write_json("user_audios/tut_1/1.json", {"text": "hola"})
    reply = files.reply_audio("tut_1", 1)
    files.path(reply).parent.mkdir(parents=True, exist_ok=True)
    files.path(reply).write_bytes(b"RIFF reply")
    files.publish(reply)
    assert store.list("") == sorted([kept, stored, reply]) and kept == "user_audios/tut_1/1.wav"
    assert not any(p.is_file() for p in (tmp_path / "scratch" / "work").rglob("*"))  # all moved to the store
    fetched = files.fetch(kept)
    assert fetched is not None and fetched.read_bytes() == b"RIFF turn audio"
    assert files.fetch("speakers/nobody.wav") is None
    with pytest.raises(UploadTooLarge):
        files.save_upload(io.BytesIO(b"x" * 101), "tut_1", 2, max_bytes=100)
    files.discard(kept, stored, reply)
    assert store.list("") == []
