"""Shared fixtures: the test audio corpus, one Transcriber per session, and media files made on the fly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any
from pathlib import Path

import numpy as np
import pytest

from habla.asr.bench import Clip, read_manifest
from habla.audio.wav import looped, write_wav

ROOT = Path(__file__).resolve().parents[1]
SPEECH_DIR = Path(os.environ.get("HABLA_TEST_SPEECH", ROOT.parent / "shared" / "testdata" / "speech"))
HABLA = str(ROOT / ".venv" / "bin" / "habla") if (ROOT / ".venv" / "bin" / "habla").exists() else "habla"
RATE = 16000


def read_clips() -> list[Clip]:
    return read_manifest(SPEECH_DIR)


@pytest.fixture(scope="session")
def clips() -> list[Clip]:
    if not (SPEECH_DIR / "manifest.tsv").is_file():
        pytest.skip(f"test audio not found at {SPEECH_DIR}")
    return read_clips()


def speech_clip(name: str) -> np.ndarray:
    """A clip of the test corpus, 16 kHz float32; the test is skipped where the corpus is absent."""
    from habla.audio.decode import decode

    path = SPEECH_DIR / f"{name}.flac"
    if not path.is_file():
        pytest.skip(f"test audio not found: {path}")
    return decode(path)


class WordCountingLLM:
    """The token counting of a fake LLM engine: a word is a token. Fakes add their own ``chat``."""

    name, context_size = "fake", 2048

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def count_chat_tokens(self, messages: Any) -> int:
        return sum(len(m.content.split()) for m in messages)


def pick(clips: list[Clip], lang: str, count: int, max_seconds: float = 12.0) -> list[Clip]:
    """A fixed, spread-out sample of speech clips (every n-th), so tests see varied speakers."""
    speech = [c for c in clips if c.lang == lang and c.text.strip() and c.seconds <= max_seconds]
    step = max(1, len(speech) // count)
    return speech[::step][:count]


@pytest.fixture(scope="session")
def transcriber():
    from habla.asr.transcriber import Transcriber

    t = Transcriber.from_settings()
    t.warm()
    yield t
    t.models.unload_all()


# -- media made by the tests ----------------------------------------------------------------------------
LONG_CLIPS = ["ast-en-conf-adminmenu", "ast-en-conf-usermenu-162", "ast-en-vm-msginstruct",
              "ast-en-demo-abouttotry", "ast-en-conf-adminmenu-menu8"]


def write_long_wav(path: Path, seconds: int) -> Path:
    """Real speech of any length: English test clips in a loop with short pauses."""
    from habla.audio.decode import decode

    gap = np.zeros(RATE // 2, np.float32)
    one = np.concatenate([part for c in LONG_CLIPS for part in (decode(SPEECH_DIR / f"{c}.flac"), gap)])
    return write_wav(path, looped(one, seconds))


def tone(seconds: float, hz: float = 440.0, rate: int = RATE, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def encode(path: Path, audio: np.ndarray, codec: str, rate: int = RATE, video: bool = False) -> Path:
    """Encode mono float audio with PyAV into any container (and a small video track when asked)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.layout = "mono"  # type: ignore[attr-defined]
        picture = None
        if video:
            picture = container.add_stream("mpeg4", rate=10)
            picture.width, picture.height, picture.pix_fmt = 64, 48, "yuv420p"  # type: ignore[attr-defined]
        frame = av.AudioFrame.from_ndarray((audio * 32767).astype(np.int16)[None, :], format="s16", layout="mono")
        frame.sample_rate = rate
        frame.time_base = Fraction(1, rate)
        frame.pts = 0
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=rate)  # type: ignore[attr-defined]
        for converted in resampler.resample(frame):
            for packet in stream.encode(converted):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
        if picture is not None:
            for i in range(int(len(audio) / rate * 10)):
                image = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i % 255, np.uint8), format="rgb24")
                image.pts = i
                for packet in picture.encode(image):
                    container.mux(packet)
            for packet in picture.encode(None):
                container.mux(packet)
    return path


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory: pytest.TempPathFactory, clips: list[Clip]) -> dict[str, Path]:
    """Files that must give a clear error, or no words: each kind of bad input a user may pass."""
    folder = tmp_path_factory.mktemp("bad")
    speech = next(c for c in clips if c.lang == "en" and c.seconds > 5)
    data = speech.path.read_bytes()
    (folder / "truncated.flac").write_bytes(data[: len(data) // 3])
    (folder / "zero.wav").write_bytes(b"")
    (folder / "text.wav").write_text("this is not audio, just text with a .wav name\n" * 50)
    (folder / "random.mp3").write_bytes(np.random.default_rng(0).bytes(20000))
    header_only = folder / "header-only.wav"
    write_wav(header_only, np.zeros(0, np.float32))
    return {
        "truncated": folder / "truncated.flac",
        "zero": folder / "zero.wav",
        "text": folder / "text.wav",
        "random": folder / "random.mp3",
        "header_only": header_only,
        "missing": folder / "does-not-exist.wav",
        "directory": folder,
    }


@pytest.fixture(scope="session")
def quiet_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Audio with no speech in it: digital silence, low noise, a steady tone."""
    folder = tmp_path_factory.mktemp("quiet")
    noise = np.random.default_rng(1).normal(0, 0.003, RATE * 20).astype(np.float32)
    return {
        "silence": write_wav(folder / "silence.wav", np.zeros(RATE * 20, np.float32)),
        "noise": write_wav(folder / "noise.wav", noise),
        "tone": write_wav(folder / "tone.wav", tone(15.0)),
    }


@pytest.fixture(scope="session")
def containers(tmp_path_factory: pytest.TempPathFactory, clips: list[Clip]) -> Iterator[tuple[Clip, dict[str, Path]]]:
    """One English clip in many containers and codecs, including an mp4 video with an audio track."""
    from habla.audio.decode import decode

    folder = tmp_path_factory.mktemp("containers")
    clip = next(c for c in clips if c.lang == "en" and 4 < c.seconds < 10)
    audio = decode(clip.path)
    files = {
        "wav": write_wav(folder / "clip.wav", audio),
        "mp3": encode(folder / "clip.mp3", audio, "mp3", rate=16000),
        "ogg-opus": encode(folder / "clip.ogg", audio, "libopus", ),
        "m4a-aac": encode(folder / "clip.m4a", audio, "aac"),
        "flac": encode(folder / "clip.flac", audio, "flac"),
        "mp4-video": encode(folder / "clip.mp4", audio, "aac", video=True),
        "webm-opus": encode(folder / "clip.webm", audio, "libopus"),
    }
    yield clip, files


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    """Poll ``check`` until it returns something true (returned), or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def base_model_loaded(server: HablaServer) -> bool:
    """A `start(ready=...)` check: the server answers and has loaded the default Whisper model."""
    import httpx

    try:
        health = server.http.get("/healthz")
        return health.status_code == 200 and "base" in health.json()["models_loaded"]
    except httpx.TransportError:
        return False


# -- a live server --------------------------------------------------------------------------------------
class HablaServer:
    """A `habla serve` subprocess on a free port, with its own data folder. ``kill()`` is SIGKILL; ``start()``
    again reuses the folder (a restart)."""

    def __init__(self, home: Path, env: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> None:
        import httpx

        self.home, self.log = home, home / "server.log"
        self.env = {**os.environ, "HABLA_HOME": str(home), "HABLA_JOBS__STORAGE_DIR": str(home / "files"),
                    **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.http = httpx.Client(timeout=60, headers=headers or {})
        self._new_port()

    def _new_port(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.http.base_url = self.url

    def start(self, ready: Callable[[HablaServer], bool] | None = None, timeout: float = 90) -> HablaServer:
        # The port was free when picked, but other test runs on the machine may take it before the server binds
        # it: then the server exits with "address already in use" and starts again on another port.
        for _ in range(3):
            logged = self.log.stat().st_size if self.log.exists() else 0
            if self._start_once(ready, timeout):
                return self
            assert "address already in use" in self.log.read_text()[logged:].lower(), self.log.read_text()
            self._new_port()
        raise AssertionError(f"habla serve found no free port: {self.log.read_text()}")

    def _start_once(self, ready: Callable[[HablaServer], bool] | None, timeout: float) -> bool:
        """True once the server is ready; False when it exited (the caller reads why in the log)."""
        self.proc = subprocess.Popen([HABLA, "serve", "--host", "127.0.0.1", "--port", str(self.port)], env=self.env,
                                     stdout=self.log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not (ready or HablaServer.healthy)(self):
            if self.proc.poll() is not None:
                return False
            assert time.monotonic() < deadline, f"habla serve did not start in {timeout:.0f} s: {self.log.read_text()}"
            time.sleep(0.25)
        return True

    def healthy(self) -> bool:
        import httpx

        try:
            return self.http.get("/healthz").status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()  # reap it, as a supervisor would: a zombie still looks alive

    def __enter__(self) -> HablaServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.http.close()


class WebhookReceiver:
    """A real HTTP endpoint on 127.0.0.1 that records every POST (headers, raw body) and answers with the given
    statuses in turn (the last one repeats)."""

    def __init__(self, statuses: tuple[int, ...] = (200,)) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.statuses = statuses
        self.requests: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                outer.requests.append((dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(outer.statuses[min(len(outer.requests), len(outer.statuses)) - 1])
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def bodies(self) -> list[dict]:
        import json

        return [json.loads(body) for _, body in self.requests]

    def calls(self, job_id: str) -> int:
        return sum(body.get("id") == job_id for body in self.bodies)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
