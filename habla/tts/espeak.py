"""espeak-ng voices for the ~130 languages without a Piper voice, through Debian's ``espeak-ng`` command.

Formant synthesis sounds robotic but is fast (milliseconds per sentence) and intelligible. A slower rate than
espeak-ng's 175 words per minute and a 40 ms gap between words were measured to lower Whisper's word error rate
on Spanish from 43 % to about 15 % (``scripts/bench_tts.py``).
"""

from __future__ import annotations

import functools
import logging
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from habla.errors import HablaError, ModelNotFound
from habla.tts.protocol import AudioChunk, Voice

log = logging.getLogger(__name__)
BINARY = "espeak-ng"
_MIN_RATE, _MAX_RATE = 80, 450
_OTHER_LANGUAGE = re.compile(r"\(([\w-]+) (\d+)\)")
_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class EspeakVoice:
    """One line of ``espeak-ng --voices``: its language code, priority (lower wins) and other languages served."""

    code: str
    priority: int
    description: str
    others: tuple[tuple[str, int], ...]


def available() -> bool:
    return shutil.which(BINARY) is not None


@functools.lru_cache(maxsize=1)
def list_espeak_voices() -> tuple[EspeakVoice, ...]:
    """The installed espeak-ng languages (empty when espeak-ng is missing). Cached: the list never changes."""
    if not available():
        return ()
    out = subprocess.run([BINARY, "--voices"], capture_output=True, text=True, check=False,
                         timeout=_TIMEOUT_SECONDS).stdout
    voices = []
    for line in out.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 5 or not fields[0].isdigit():
            continue
        others = tuple((code, int(prio)) for code, prio in _OTHER_LANGUAGE.findall(line))
        voices.append(EspeakVoice(fields[1], int(fields[0]), fields[3].replace("_", " "), others))
    return tuple(voices)


def to_voice(info: EspeakVoice) -> Voice:
    return Voice(name=f"espeak-{info.code}", engine="espeak", language=info.code.split("-")[0],
                 sample_rate=22050, model=info.code, description=f"espeak-ng {info.description}")


def voice_for_language(language: str) -> Voice | None:
    """espeak-ng's best voice for a language code ("es", "es-419", "zh"), or None."""
    language = language.lower().replace("_", "-")
    candidates: list[tuple[int, int, EspeakVoice]] = []
    for info in list_espeak_voices():
        if info.code == language:
            return to_voice(info)
        candidates += [(0, prio, info) for code, prio in info.others if code == language]
        if info.code.split("-")[0] == language:
            candidates.append((1, info.priority, info))
    return to_voice(min(candidates, key=lambda c: c[:2])[2]) if candidates else None


def _wav_to_pcm(data: bytes) -> tuple[np.ndarray, int]:
    """espeak-ng writes a WAV header with placeholder sizes when streaming, so find the chunks by hand."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise HablaError("espeak-ng returned no audio")
    rate = int.from_bytes(data[24:28], "little")
    start = data.find(b"data", 12)
    if start < 0:
        raise HablaError("espeak-ng returned no audio")
    body = data[start + 8:]
    return np.frombuffer(body[: len(body) // 2 * 2], dtype="<i2").astype(np.int16), rate


class EspeakEngine:
    """All espeak-ng voices. Thread-safe: every sentence is its own short-lived espeak-ng process."""

    name = "espeak"

    def __init__(self, rate: int = 160, word_gap: int = 4) -> None:
        if not available():
            raise ModelNotFound("espeak-ng is not installed", hint="apt-get install espeak-ng")
        self.rate = rate
        self.word_gap = word_gap

    def voices(self) -> list[Voice]:
        return [to_voice(info) for info in list_espeak_voices()]

    def synthesize(self, text: str, voice: Voice, speed: float = 1.0,
                   cancel: threading.Event | None = None) -> Iterator[AudioChunk]:
        if cancel is not None and cancel.is_set():
            return
        rate = min(max(round(self.rate * speed), _MIN_RATE), _MAX_RATE)
        # Text goes through stdin so that text starting with "-" is never read as an option.
        cmd = [BINARY, "-v", voice.model, "-s", str(rate), "-g", str(self.word_gap), "-b", "1", "--stdout"]
        proc = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, check=False,
                              timeout=_TIMEOUT_SECONDS)
        if proc.returncode != 0:
            raise HablaError(f"espeak-ng failed: {proc.stderr.decode(errors='replace').strip()}")
        pcm, sample_rate = _wav_to_pcm(proc.stdout)
        yield AudioChunk(pcm, sample_rate, text)
