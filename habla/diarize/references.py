"""Known-speaker reference clips as OpenAI sends them: ``data:`` URLs with base64 audio, one per name. Never a
path or a URL to fetch: the server reads nothing but what the request carries."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence

import numpy as np

from habla.audio.decode import SAMPLE_RATE, iter_blocks
from habla.diarize.service import KnownSpeaker
from habla.errors import AudioDecodeError, InvalidOption

MAX_KNOWN_SPEAKERS = 4  # OpenAI's limit for gpt-4o-transcribe-diarize
MAX_REFERENCE_SECONDS = 30.0  # OpenAI asks for 2-10 s; a little more is harmless, much more is abuse
MIN_REFERENCE_SECONDS = 0.5
MAX_REFERENCE_BYTES = 4 * 1024 * 1024
MAX_NAME_CHARS = 64
_DATA_URL = re.compile(r"data:(?P<type>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w.+-]+=[\w.+-]+)*);base64,(?P<data>.*)",
                       re.DOTALL)


def parse_data_url(url: str, field: str) -> bytes:
    match = _DATA_URL.fullmatch(url.strip())
    if match is None:
        raise InvalidOption(f"{field} must be a data URL (data:audio/wav;base64,...)",
                            hint="reference audio travels in the request; URLs and paths are not fetched")
    data = match["data"]
    if len(data) > MAX_REFERENCE_BYTES * 4 // 3 + 4:
        raise InvalidOption(f"{field} is larger than {MAX_REFERENCE_BYTES // (1024 * 1024)} MB")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidOption(f"{field} is not valid base64") from exc


def known_speakers(names: Sequence[str], references: Sequence[str]) -> list[KnownSpeaker]:
    """Pair ``known_speaker_names[]`` with ``known_speaker_references[]``, decoding and checking each clip."""
    if len(names) != len(references):
        raise InvalidOption(f"known_speaker_names has {len(names)} entries but known_speaker_references has "
                            f"{len(references)}", hint="send one reference clip per name")
    if len(names) > MAX_KNOWN_SPEAKERS:
        raise InvalidOption(f"at most {MAX_KNOWN_SPEAKERS} known speakers, got {len(names)}")
    if len({n.strip() for n in names}) != len(names):
        raise InvalidOption("known_speaker_names must be different from each other")
    people = []
    for i, (name, url) in enumerate(zip(names, references, strict=False)):
        name = name.strip()
        if not name or len(name) > MAX_NAME_CHARS or any(not c.isprintable() for c in name):
            raise InvalidOption(f"known_speaker_names[{i}] must be 1-{MAX_NAME_CHARS} printable characters")
        field = f"known_speaker_references[{i}]"
        try:
            audio = _first_seconds(parse_data_url(url, field))
        except AudioDecodeError as exc:
            raise InvalidOption(f"{field} is not audio habla can decode") from exc
        _check_length(audio, field)
        people.append(KnownSpeaker(name, audio))
    return people


def _first_seconds(data: bytes) -> np.ndarray:
    """Decode no more than just past the longest allowed clip: a small upload can hold hours of audio."""
    blocks = iter_blocks(data, block_seconds=MAX_REFERENCE_SECONDS + 1)
    try:
        return next(blocks, np.zeros(0, np.float32))
    finally:
        blocks.close()  # type: ignore[attr-defined]


def _check_length(audio: np.ndarray, field: str) -> None:
    seconds = len(audio) / SAMPLE_RATE
    if seconds < MIN_REFERENCE_SECONDS:
        raise InvalidOption(f"{field} is {seconds:.1f} s long; give at least {MIN_REFERENCE_SECONDS} s of speech")
    if seconds > MAX_REFERENCE_SECONDS:
        raise InvalidOption(f"{field} is {seconds:.0f} s long; at most {MAX_REFERENCE_SECONDS:.0f} s is used",
                            hint="2-10 s of the person speaking alone is enough")
