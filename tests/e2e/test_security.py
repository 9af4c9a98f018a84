"""Security properties of a live `habla serve`, probed as a hostile client would (issue 21).

One server with two user keys (one configured only as its sha256 digest) and an admin key, no webhook allow-list,
a small job queue bound and the real base model and LLM. Each test keeps one property true: keys own their data,
models by name only, webhooks never reach the server's own network, nothing is read before authentication, LLM
requests are bounded and stop when their client leaves, and a full job queue says when to come back.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.conftest import HablaServer, WebhookReceiver, wait_for, write_long_wav

ROOT = Path(__file__).resolve().parents[2]
SPEECH = Path(os.environ.get("HABLA_TESTDATA", ROOT.parent / "shared" / "testdata")) / "speech"
SHORT = SPEECH / "ast-en-dir-welcome.flac"  # 1.8 s: "Welcome to the directory."
K1, K2, ADMIN = "key-one-0123456789", "key-two-9876543210", "admin-key-5555555555"
MAX_PENDING = 3


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}



@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HablaServer]:
    k2_digest = "sha256:" + hashlib.sha256(K2.encode()).hexdigest()  # a key kept only as its digest
    env = {"HABLA_SERVER__API_KEYS": json.dumps([K1, k2_digest]),
           "HABLA_SERVER__ADMIN_API_KEYS": json.dumps([ADMIN]),
           "HABLA_SERVER__MAX_UPLOAD_MB": "1", "HABLA_JOBS__MAX_UPLOAD_MB": "5",
           "HABLA_JOBS__MAX_PENDING": str(MAX_PENDING), "HABLA_JOBS__WEBHOOK_RETRIES": "0",
           "HABLA_LLM__CONTEXT_SIZE": "2048", "HABLA_LLM__MAX_MESSAGES": "64"}
    with HablaServer(tmp_path_factory.mktemp("security"), env, bearer(K1)) as srv:
        yield srv.start()


def submit(server: HablaServer, key: str, path: Path = SHORT, headers: dict[str, str] | None = None,
           **fields: Any) -> httpx.Response:
    with open(path, "rb") as f:
        return server.http.post("/v1/jobs", files={"file": (path.name, f)}, data=fields,
                                headers={**bearer(key), **(headers or {})})


def finished_job(server: HablaServer, key: str) -> dict[str, Any]:
    job = submit(server, key).json()
    return wait_for(lambda: (j := server.http.get(f"/v1/jobs/{job['id']}", headers=bearer(key)).json())["status"]
                    in ("succeeded", "failed") and j, 180, "the job to finish")


# -- 1. keys own their data ---------------------------------------------------------------------------------
def test_another_key_cannot_see_or_touch_a_job(server: HablaServer) -> None:
    job = finished_job(server, K1)
    assert job["status"] == "succeeded", job
    jid = job["id"]
    get = lambda path, key=K2: server.http.get(path, headers=bearer(key))  # noqa: E731
    post = lambda path, key=K2, **kw: server.http.post(path, headers=bearer(key), **kw)  # noqa: E731
    probes = {"get": get(f"/v1/jobs/{jid}"), "result": get(f"/v1/jobs/{jid}/result?format=txt"),
              "audio": get(f"/v1/jobs/{jid}/audio"), "events": get(f"/v1/jobs/{jid}/events"),
              "cancel": server.http.delete(f"/v1/jobs/{jid}", headers=bearer(K2)),
              "retry": post(f"/v1/jobs/{jid}/retry"), "summary": post(f"/v1/jobs/{jid}/summary"),
              "ask": post(f"/v1/jobs/{jid}/ask", json={"question": "what is said?"}),
              "list after it": get(f"/v1/jobs?after={jid}")}
    for name, response in probes.items():
        assert response.status_code == 404, (name, response.status_code, response.text)
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert jid not in [j["id"] for j in get("/v1/jobs?limit=100").json()["data"]]
    # The owner and the admin key still see it; the hashed key's own jobs work as any other's.
    assert get(f"/v1/jobs/{jid}/result?format=txt", K1).text.strip() == "Welcome to the directory."
    assert get(f"/v1/jobs/{jid}", ADMIN).status_code == 200
    assert jid in [j["id"] for j in get("/v1/jobs?limit=100", ADMIN).json()["data"]]
    assert "owner" not in job


def test_an_idempotency_key_is_per_principal(server: HablaServer) -> None:
    first = submit(server, K1, headers={"Idempotency-Key": "shared-key"})
    again = submit(server, K1, headers={"Idempotency-Key": "shared-key"})
    other = submit(server, K2, headers={"Idempotency-Key": "shared-key"})
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 201)
    assert again.json()["id"] == first.json()["id"] != other.json()["id"]
    for r, key in ((first, K1), (other, K2)):
        wait_for(lambda r=r, key=key: server.http.get(f"/v1/jobs/{r.json()['id']}", headers=bearer(key))
                 .json()["status"] == "succeeded", 180, "the jobs to finish")


def test_another_key_cannot_read_or_post_into_a_tutor_session(server: HablaServer) -> None:
    created = server.http.post("/v1/tutor/sessions", json={"persona": "spanish-teacher"}, headers=bearer(K1))
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    probes = {"get": server.http.get(f"/v1/tutor/sessions/{sid}", headers=bearer(K2)),
              "report": server.http.get(f"/v1/tutor/sessions/{sid}/report", headers=bearer(K2)),
              "turn": server.http.post(f"/v1/tutor/sessions/{sid}/turns", data={"text": "Hola, me llamo Ana."},
                                       headers=bearer(K2)),
              "turn audio": server.http.get(f"/v1/tutor/sessions/{sid}/turns/1/audio/reply", headers=bearer(K2))}
    for name, response in probes.items():
        assert response.status_code == 404, (name, response.status_code, response.text)
    listed = server.http.get("/v1/tutor/sessions", headers=bearer(K2)).json()["data"]
    assert sid not in [s["id"] for s in listed]
    mine = server.http.get(f"/v1/tutor/sessions/{sid}", headers=bearer(K1)).json()
    assert mine["turn_count"] == 0  # the other key's turn was never taken
    assert server.http.get(f"/v1/tutor/sessions/{sid}", headers=bearer(ADMIN)).status_code == 200


def test_wrong_and_missing_keys_are_refused_everywhere(server: HablaServer) -> None:
    for headers in ({}, bearer("nope"), bearer("sha256:" + hashlib.sha256(K2.encode()).hexdigest()),
                    {"Authorization": K1}):
        for method, path in (("GET", "/v1/jobs"), ("POST", "/v1/jobs"), ("GET", "/v1/tutor/sessions"),
                             ("POST", "/v1/chat/completions"), ("GET", "/v1/talk/sessions")):
            r = server.http.request(method, path, headers={**headers, "Authorization": headers.get("Authorization",
                                                                                                    "")})
            assert r.status_code == 401, (headers, path, r.text)
            assert r.json()["error"]["code"] == "invalid_api_key"


# -- 2. models by name only -----------------------------------------------------------------------------------
def test_jobs_take_model_names_only_and_healthz_shows_no_paths(server: HablaServer) -> None:
    before = len(server.http.get("/v1/jobs?limit=100", headers=bearer(ADMIN)).json()["data"])
    for hostile in ("../../etc", "/etc", "/tmp", "~root", "/proc/self/cwd", str(ROOT), "..", ".", "base/../base",
                    "C:\\Windows", "tiny\x00", "https://huggingface.co/x", "x" * 5000):
        r = submit(server, K1, model=hostile)
        assert r.status_code in (400, 404), (hostile, r.status_code, r.text)
        assert "/root" not in r.text and "site-packages" not in r.text
    assert len(server.http.get("/v1/jobs?limit=100", headers=bearer(ADMIN)).json()["data"]) == before
    health = server.http.get("/healthz", headers={"Authorization": ""})
    assert health.status_code == 200 and health.json()["models_loaded"]
    assert not any("/" in m or "\\" in m for m in health.json()["models_loaded"]), health.json()


# -- 3. webhooks ------------------------------------------------------------------------------------------------
def test_webhooks_to_the_servers_own_network_are_refused(server: HablaServer) -> None:
    hook = WebhookReceiver()  # loopback: must never be called
    port = hook.server.server_port
    try:
        hostile = [f"http://127.0.0.1:{port}/hook", f"http://localhost:{port}/", f"http://2130706433:{port}/",
                   f"http://0x7f000001:{port}/", f"http://0x7f.1:{port}/", f"http://127.1:{port}/",
                   f"http://0177.0.0.1:{port}/", f"http://[::1]:{port}/", f"http://[::ffff:127.0.0.1]:{port}/",
                   f"http://[0:0:0:0:0:ffff:7f00:1]:{port}/", f"http://0.0.0.0:{port}/", f"http://0:{port}/",
                   f"http://user:pw@127.0.0.1:{port}/", f"http://example.com@127.0.0.1:{port}/",
                   f"http://127.0.0.1:{port}\\@example.com/", f"http://127.0.0.1:{port}#@example.com/",
                   "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://192.168.1.1/",
                   "http://172.16.0.1/", "http://100.64.0.1/", "http://224.0.0.1/", "http://[fe80::1]/",
                   "http://[fc00::1]/", "http://[ff02::1]/", f"{server.url}/v1/jobs", "ftp://example.org/x",
                   "file:///etc/passwd", "gopher://127.0.0.1:70/", "javascript:alert(1)", "http:///nohost"]
        for url in hostile:
            r = submit(server, K1, webhook_url=url)
            assert r.status_code == 400, (url, r.status_code, r.text)
            assert r.json()["error"]["code"] == "invalid_option"
        assert hook.requests == []
    finally:
        hook.close()


# -- 4. nothing heavy before authentication -----------------------------------------------------------------
def _raw_request(server: HablaServer, head: str, body_chunks: int, chunk: bytes) -> tuple[bytes, int]:
    """Send ``head``, then body chunks until the server answers; returns the answer and the body bytes sent."""
    sent = 0
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head.encode())
        sock.settimeout(0.5)
        for _ in range(body_chunks):
            try:
                answer = sock.recv(65536)
                if answer:
                    return answer, sent
            except TimeoutError:
                pass
            try:
                sock.sendall(chunk)
            except OSError:
                break
            sent += len(chunk)
        sock.settimeout(30)
        return sock.recv(65536), sent


@pytest.mark.parametrize("framing", ["declared", "chunked"])
def test_an_unauthenticated_big_upload_is_refused_before_its_body_is_read(server: HablaServer,
                                                                         framing: str) -> None:
    uploads = server.home / "files" / "uploads"
    before = sorted(uploads.iterdir()) if uploads.is_dir() else []
    length = "Content-Length: 209715200" if framing == "declared" else "Transfer-Encoding: chunked"
    head = (f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\n{length}\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\n\r\n")
    chunk = b"x" * (1 << 20) if framing == "declared" else b"100000\r\n" + b"x" * (1 << 20) + b"\r\n"
    answer, sent = _raw_request(server, head, 200, chunk)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert sent == 0, f"{sent} body bytes were sent before the 401"  # the answer came on the headers alone
    assert (sorted(uploads.iterdir()) if uploads.is_dir() else []) == before


def test_a_declared_body_over_the_limit_is_refused_before_reading(server: HablaServer) -> None:
    for path, size in (("/v1/jobs", 6 << 20), ("/v1/audio/transcriptions", 2 << 20), ("/v1/chat/completions", 2 << 20),
                       ("/v1/tutor/sessions/tut_x/turns", 30 << 20)):
        head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {K1}\r\nContent-Length: {size}\r\n"
                "Content-Type: application/json\r\n\r\n")
        answer, sent = _raw_request(server, head, 20, b"x" * 65536)
        assert answer.startswith(b"HTTP/1.1 413") and sent == 0, (path, answer[:200], sent)


# -- 5. LLM requests are bounded ---------------------------------------------------------------------------
def test_out_of_range_chat_values_are_400_never_500(server: HablaServer) -> None:
    def chat(**body: Any) -> httpx.Response:
        return server.http.post("/v1/chat/completions",
                                json={"messages": [{"role": "user", "content": "Hi"}], **body})

    bad = [{"max_tokens": 10**10}, {"max_tokens": 2049}, {"max_completion_tokens": 10**6}, {"seed": 2**70},
           {"seed": -(2**64)}, {"temperature": 1e308}, {"temperature": float("nan")}, {"top_p": -1},
           {"messages": [{"role": "user", "content": "x"}] * 65}, {"messages": []},
           {"messages": [{"role": "root", "content": "x"}]}, {"n": 2}, {"stop": ["a"] * 5}]
    for body in bad:
        try:
            r = chat(**body)
        except ValueError:  # NaN is not JSON; send it raw as the hostile client would
            raw = json.dumps({"messages": [{"role": "user", "content": "Hi"}], **body}, allow_nan=True)
            r = server.http.post("/v1/chat/completions", content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (body if len(str(body)) < 200 else list(body), r.status_code, r.text)
    huge = {"messages": [{"role": "user", "content": "x" * 2_000_000}]}
    assert server.http.post("/v1/chat/completions", json=huge).status_code == 413
    ok = chat(seed=2**40, max_tokens=2, temperature=0.5)
    assert ok.status_code == 200, ok.text


def test_a_client_that_leaves_stops_its_generation(server: HablaServer) -> None:
    """A reply of up to 1500 tokens, asked for by a client that hangs up after 1 s: the next request must not wait
    for it. Without cancellation it waits for the whole reply (over a minute on 2 cores)."""
    long_reply = {"messages": [{"role": "user", "content": "Count from 1 to 2000, one number per line."}],
                  "max_tokens": 1500}
    # A prompt of ~1400 tokens (the fixture's context is 2048) takes seconds to evaluate on 2 cores whatever the
    # model answers, so this client surely hangs up mid-work (an instruction-tuned model may answer briefly).
    long_prompt = {"messages": [{"role": "user", "content": "Repeat this text. " + "one two three four " * 350}],
                   "max_tokens": 400}
    with pytest.raises(httpx.ReadTimeout):  # nothing comes back until the reply is done: the read times out
        server.http.post("/v1/chat/completions", json=long_prompt, timeout=1.0)
    short = {"messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 2}
    assert server.http.post("/v1/chat/completions", json=short, timeout=45).status_code == 200
    with httpx.Client(base_url=server.url, headers=bearer(K1), timeout=30) as client, \
            client.stream("POST", "/v1/chat/completions", json={**long_reply, "stream": True}) as response:
        assert response.status_code == 200
        for line in response.iter_lines():  # read until the first number, then hang up mid-reply
            if line.startswith("data: {") and any(
                    ch.isdigit() for ch in json.loads(line[6:])["choices"][0]["delta"].get("content") or ""):
                break
        else:
            pytest.fail("the reply ended before its first number")
    assert server.http.post("/v1/chat/completions", json=short, timeout=45).status_code == 200


# -- Medium findings -----------------------------------------------------------------------------------------
def test_parallel_model_listings_never_fail(server: HablaServer) -> None:
    results: list[int] = []

    def probe(path: str) -> None:
        with httpx.Client(base_url=server.url, headers=bearer(K1), timeout=60) as c:
            results.append(c.get(path).status_code)

    threads = [threading.Thread(target=probe, args=(p,)) for p in ("/v1/models", "/v1/audio/voices") * 20]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 40


def test_a_full_job_queue_answers_429_with_retry_after(server: HablaServer, tmp_path: Path) -> None:
    long = write_long_wav(tmp_path / "long.wav", 120)
    ids = []
    try:
        for _ in range(MAX_PENDING):
            r = submit(server, K1, long)
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        refused = submit(server, K2, SHORT)
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["Retry-After"]) >= 1 and refused.json()["error"]["code"] == "queue_full"
    finally:
        for jid in ids:
            server.http.delete(f"/v1/jobs/{jid}", headers=bearer(K1))
    accepted = submit(server, K2, SHORT)
    assert accepted.status_code == 201, accepted.text


# -- 6. talk sessions of clients that never read are released ----------------------------------------------
class DeafTalkClient:
    """A /v1/talk client on a raw socket: it streams audio as fast as the server takes it and never reads a byte
    of what the server sends, then hangs up (what a crashed or hostile client does)."""

    def __init__(self, server: HablaServer, key: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills at once: the server must wait
        self.sock.sendall((f"GET /v1/talk?api_key={key} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += self.sock.recv(1)  # the handshake only, byte by byte: nothing after it is read
        assert answer.startswith(b"HTTP/1.1 101"), answer

    def send(self, payload: bytes, opcode: int) -> None:
        mask = os.urandom(4)
        size = len(payload)
        head = bytes([0x80 | opcode])
        if size < 126:
            head += bytes([0x80 | size])
        elif size < 1 << 16:
            head += bytes([0x80 | 126]) + size.to_bytes(2, "big")
        else:
            head += bytes([0x80 | 127]) + size.to_bytes(8, "big")
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def start(self) -> None:
        self.send(json.dumps({"type": "session.start"}).encode(), 0x1)

    def stream(self, pcm: bytes) -> None:
        self.sock.settimeout(1)
        for start in range(0, len(pcm), 32000):
            try:
                self.send(pcm[start:start + 32000], 0x2)
            except OSError:  # the server stopped reading (or hung up): enough
                return
        with contextlib.suppress(OSError):
            self.send(json.dumps({"type": "input.end"}).encode(), 0x1)  # and waits for replies it never reads

    def hang_up(self) -> None:
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.sock.close()


def test_talk_clients_that_never_read_and_hang_up_are_released(server: HablaServer) -> None:
    from habla.audio.decode import decode

    speech = decode(SPEECH / "ast-en-privacy-incorrect.flac")
    pcm = (np.clip(np.concatenate([speech, np.zeros(16000, np.float32)] * 3), -1, 1) * 32767).astype("<i2").tobytes()
    clients = [DeafTalkClient(server, K1) for _ in range(4)]
    sessions = lambda: server.http.get("/v1/talk/sessions").json()  # noqa: E731
    try:
        for client in clients:
            client.start()
        wait_for(lambda: sessions()["active"] == 4, 180, "four sessions (the server's limit) to be held")
        for client in clients:
            client.stream(pcm)
        wait_for(lambda: sessions()["busy"] > 0, 60, "the sessions to be answering")
    finally:
        for client in clients:
            client.hang_up()
    wait_for(lambda: sessions()["active"] == 0, 60, "the deaf clients' sessions to be released")


# -- a full disk ------------------------------------------------------------------------------------------------
@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 48 MB tmpfs: a disk that can really fill up (needs root, as in the project's test machines)."""
    import subprocess

    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_refuses_jobs_with_507_and_leaves_none_stuck(small_disk: Path) -> None:
    home = small_disk / "home"
    home.mkdir()
    with HablaServer(home, {"HABLA_JOBS__WEBHOOK_RETRIES": "0"}) as srv:
        srv.start()

        def post() -> httpx.Response:
            with open(SHORT, "rb") as f:
                return srv.http.post("/v1/jobs", files={"file": (SHORT.name, f)})

        filler = small_disk / "filler"
        with open(filler, "wb", buffering=0) as out:
            for block in (1 << 20, 4096, 64):  # until not even 64 bytes fit
                with contextlib.suppress(OSError):
                    while out.write(b"\0" * block):
                        pass
        refused = [post() for _ in range(5)]
        assert [r.status_code for r in refused] == [507] * 5, [r.text for r in refused]
        assert refused[0].json()["error"]["code"] == "insufficient_storage"
        filler.unlink()  # space comes back
        accepted = post()
        assert accepted.status_code == 201, accepted.text

        def settled() -> bool:
            jobs = srv.http.get("/v1/jobs?limit=100").json()["data"]
            return bool(jobs) and all(j["status"] in ("succeeded", "failed", "cancelled") for j in jobs)

        wait_for(settled, 180, "every job to finish (none stuck in the queue)")
        assert srv.http.get(f"/v1/jobs/{accepted.json()['id']}").json()["status"] == "succeeded"
