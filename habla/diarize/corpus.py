"""Built conversations with exact speaker turns, for tests and the diarization benchmark.

Voices: two recorded prompt voices (Asterisk English, Asterisk Mexican Spanish), a LibriVox reader, Piper's joe
and two espeak-ng voices. A conversation takes k of them, alternates turns with short gaps (0.1-0.7 s) and a few
overlaps, and records each utterance's speech (leading and trailing silence trimmed) as the reference turn.
Tuning and held-out conversations draw utterances from disjoint halves of every voice's material.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from habla.audio.decode import SAMPLE_RATE, decode
from habla.audio.manifest import read_manifest_rows
from habla.diarize.protocol import SpeakerTurn

TARGET_RMS = 0.05  # every utterance at about -26 dBFS, as a levelled recording would be
TRIM_DB = 35.0  # frames this far below the utterance's loudest frame count as silence
GAP_SECONDS = (0.1, 0.7)
OVERLAP_SECONDS = (0.3, 0.8)
OVERLAP_PROBABILITY = 0.12
MAX_UTTERANCE_SECONDS = 9.0

# espeak-ng applies a variant only to a voice name it resolves as a file: "en-gb+f4" silently fell back to the plain
# male en-gb voice (median F0 103 Hz, the same as "en-gb"; CAM++ centroids of "espeak_m" and that voice 0.10-0.13
# apart in cosine distance, inside one voice's own spread), so "espeak_f" was a second male voice. The RP voice
# takes the female variant: median F0 180 Hz.
ESPEAK_VOICES = {"espeak_m": "en-us+m3", "espeak_f": "en-gb-x-rp+f4"}
RECORDED = {"allison": "ast-en-", "mexican": "ast-es-", "librivox": "librivox-"}
VOICES = ("allison", "mexican", "librivox", "joe", "espeak_m", "espeak_f")
# Voices no tuning conversation uses (the "voices" split): other espeak-ng accents and variants, three female and
# three male. Only synthetic voices: this machine has no other recorded speakers.
UNSEEN_ESPEAK_VOICES = {"us_f2": "en-us+f2", "caribbean_f3": "en-029+f3", "midlands_f1": "en-gb-x-gbcwmd+f1",
                        "scotland_m2": "en-gb-scotland+m2", "lancaster_m4": "en-gb-x-gbclan+m4",
                        "nyc_m1": "en-us-nyc+m1"}
# Stop 15, fixed before any tuning on them: eight more voices for tuning the speaker count on near-identical voices
# ("voices-tune"), and eight held out from all tuning ("voices-2"). Every pair is another accent and another
# variant (pitch range, formants, flutter), none used by the splits above. "en" rather than "en-gb": espeak-ng
# ignores a variant on "en-gb" (byte-identical to plain en-gb), and every voice here differs from its base voice
# (tests/e2e/test_diarize.py). Piper's only voice here (joe) at another speed or noise is still joe: not a voice.
VOICES_TUNE_ESPEAK = {"us_m5": "en-us+m5", "gb_m6": "en+m6", "scotland_f5": "en-gb-scotland+f5",
                      "caribbean_robert": "en-029+robert", "nyc_linda": "en-us-nyc+linda",
                      "lancaster_quincy": "en-gb-x-gbclan+quincy", "rp_michael": "en-gb-x-rp+Michael",
                      "midlands_aunty": "en-gb-x-gbcwmd+aunty"}
VOICES_2_ESPEAK = {"us_m7": "en-us+m7", "gb_m8": "en+m8", "caribbean_steph": "en-029+steph",
                   "scotland_paul": "en-gb-scotland+paul", "nyc_iven": "en-us-nyc+iven",
                   "midlands_gene": "en-gb-x-gbcwmd+Gene", "rp_annie": "en-gb-x-rp+Annie",
                   "lancaster_grandma": "en-gb-x-gbclan+grandma"}
ALL_ESPEAK_VOICES = {**ESPEAK_VOICES, **UNSEEN_ESPEAK_VOICES, **VOICES_TUNE_ESPEAK, **VOICES_2_ESPEAK}

Synthesizer = Callable[[str, str], np.ndarray]  # (voice, text) → 16 kHz float32


@dataclass(frozen=True)
class Conversation:
    name: str
    audio: np.ndarray
    turns: list[SpeakerTurn]

    @property
    def speakers(self) -> int:
        return len({t.speaker for t in self.turns})


def trim(audio: np.ndarray, frame: int = 320) -> np.ndarray:
    """Cut leading and trailing silence (20 ms frames more than TRIM_DB below the loudest)."""
    if len(audio) < frame:
        return audio
    frames = audio[:len(audio) // frame * frame].reshape(-1, frame)
    level = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
    loud = np.flatnonzero(level > level.max() - TRIM_DB)
    return audio[loud[0] * frame:(loud[-1] + 1) * frame]


def level(audio: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(audio ** 2))) if audio.size else 0.0
    return audio * (TARGET_RMS / rms) if rms > 0 else audio


class Material:
    """Utterances per voice: recorded clips from the test set, synthesized sentences for TTS voices."""

    def __init__(self, testdata: Path, synthesize: Synthesizer) -> None:
        rows = read_manifest_rows(testdata)
        self.testdata = testdata
        self.synthesize = synthesize
        self.clips = {voice: sorted(r.id for r in rows if r.id.startswith(prefix) and r.text
                                    and r.seconds <= MAX_UTTERANCE_SECONDS)
                      for voice, prefix in RECORDED.items()}
        self.sentences = sorted({r.text for r in rows if r.lang == "en" and r.text and len(r.text) < 110})

    def choices(self, voice: str, half: int) -> list[str]:
        items = self.clips[voice] if voice in RECORDED else self.sentences
        return items[half::2]

    def utterance(self, voice: str, item: str) -> np.ndarray:
        raw = decode(str(self.testdata / f"{item}.flac")) if voice in RECORDED else self.synthesize(voice, item)
        return level(trim(raw))


def build(material: Material, name: str, speakers: int, seed: int, half: int, turns: int = 14,
          pool: tuple[str, ...] = VOICES) -> Conversation:
    rng = random.Random(seed)
    voices = rng.sample(pool, speakers)
    pieces: list[tuple[float, np.ndarray, str]] = []
    t, previous = 0.5, ""
    for i in range(turns):
        # Everyone speaks at least once; then anyone but the one who just spoke.
        voice = voices[i] if i < speakers else rng.choice([v for v in voices if v != previous])
        audio = material.utterance(voice, rng.choice(material.choices(voice, half)))
        if pieces and rng.random() < OVERLAP_PROBABILITY:
            t = max(pieces[-1][0] + 0.5, t - rng.uniform(*OVERLAP_SECONDS))
        pieces.append((t, audio, voice))
        t += len(audio) / SAMPLE_RATE + rng.uniform(*GAP_SECONDS)
        previous = voice
    mix = np.zeros(int((t + 0.5) * SAMPLE_RATE), dtype=np.float32)
    noise = np.random.default_rng(seed).normal(0, TARGET_RMS / 300, len(mix)).astype(np.float32)  # -50 dB
    reference = []
    for start, audio, voice in pieces:
        first = round(start * SAMPLE_RATE)
        mix[first:first + len(audio)] += audio
        reference.append(SpeakerTurn(round(first / SAMPLE_RATE, 3), round((first + len(audio)) / SAMPLE_RATE, 3),
                                     voice))
    return Conversation(name, np.clip(mix + noise, -1, 1), sorted(reference, key=lambda r: r.start))


def tts_synthesizer(cache: Path | None = None) -> Synthesizer:
    """Piper joe and espeak-ng through habla's own TTS engines, resampled to 16 kHz, cached on disk."""
    engines: dict[str, object] = {}

    def synthesize(voice: str, text: str) -> np.ndarray:
        import hashlib

        spec = ALL_ESPEAK_VOICES.get(voice, voice)  # the engine's voice, so a changed espeak voice is not read stale
        key = hashlib.sha256(f"{spec}\n{text}".encode()).hexdigest()[:20]
        path = cache / f"{voice}-{key}.npy" if cache else None
        if path is not None and path.is_file():
            return np.load(path)
        audio = _synthesize(engines, voice, text)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, audio)
        return audio

    return synthesize


def _synthesize(engines: dict[str, object], voice: str, text: str) -> np.ndarray:
    from scipy.signal import resample_poly

    from habla.tts.espeak import EspeakEngine
    from habla.tts.protocol import Voice

    if voice == "joe":
        if "joe" not in engines:
            from habla.config import load_settings
            from habla.models.store import ModelStore
            from habla.tts.piper import PiperEngine
            from habla.tts.voices import piper_voice

            name = "en_US-joe-medium"
            path = ModelStore(load_settings().models).locate(name).path / f"{name}.onnx"
            engines["joe"] = PiperEngine(piper_voice(name), path, warm_up=False)
        engine = engines["joe"]
        spoken = Voice("joe", "piper", "en", 22050, "en_US-joe-medium")
    else:
        engine = engines.setdefault("espeak", EspeakEngine())
        spoken = Voice(voice, "espeak", "en", 22050, ALL_ESPEAK_VOICES[voice])
    chunks = list(engine.synthesize(text, spoken))  # type: ignore[attr-defined]
    rate = chunks[0].sample_rate
    pcm = np.concatenate([c.float32() for c in chunks])
    from math import gcd

    g = gcd(SAMPLE_RATE, rate)
    return resample_poly(pcm, SAMPLE_RATE // g, rate // g).astype(np.float32)


@dataclass(frozen=True)
class Split:
    pool: tuple[str, ...]
    half: int  # which half of every voice's material (tuning splits 0, held-out splits 1)
    per_count: int  # conversations of each speaker count (2, 3, 4)
    base_seed: int


SPLIT_DEFINITIONS = {
    "tune": Split(VOICES, 0, 10, 1000),
    "test": Split(VOICES, 1, 10, 5000),
    "voices": Split(tuple(UNSEEN_ESPEAK_VOICES), 1, 5, 9000),
    "voices-tune": Split(tuple(VOICES_TUNE_ESPEAK), 0, 10, 13000),
    "voices-2": Split(tuple(VOICES_2_ESPEAK), 1, 10, 17000),
}
SPLITS = tuple(SPLIT_DEFINITIONS)
TUNING_SPLITS = ("tune", "voices-tune")


def conversation_set(material: Material, split: str) -> list[Conversation]:
    """``tune``: 30 conversations of six voices; ``test``: 30 held-out ones (the same voices, other utterances);
    ``voices``: 15 of six espeak-ng voices no tuning split uses (seen once, stop 14); ``voices-tune``: 30 of eight
    other espeak-ng voices, for tuning; ``voices-2``: 30 of eight more, held out. 2, 3 and 4 speakers in equal
    numbers."""
    if split not in SPLIT_DEFINITIONS:
        raise ValueError(f"unknown split {split!r}: one of {', '.join(SPLITS)}")
    spec = SPLIT_DEFINITIONS[split]
    out = []
    for speakers in (2, 3, 4):
        for i in range(spec.per_count):
            seed = spec.base_seed + speakers * 100 + i
            out.append(build(material, f"{split}-{speakers}spk-{i:02d}", speakers, seed, spec.half, pool=spec.pool))
    return out
