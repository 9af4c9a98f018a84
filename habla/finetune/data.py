"""Training data: a folder of audio + ``manifest.tsv`` (id, lang, seconds, text) or a ``datasets`` folder
(``save_to_disk``), split into train and validation per language, fed to the trainer as log-mel features."""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from habla.audio.decode import SAMPLE_RATE, decode, probe_duration
from habla.audio.manifest import read_manifest_rows
from habla.errors import InvalidOption

if TYPE_CHECKING:
    from transformers import WhisperProcessor

log = logging.getLogger(__name__)
MAX_SECONDS = 30.0  # one Whisper window; longer clips would be cut and their text would not match
AUDIO_SUFFIXES = (".flac", ".wav", ".mp3", ".ogg", ".opus", ".m4a", ".webm")
TEXT_COLUMNS = ("text", "sentence", "transcription", "transcript")


@dataclass(frozen=True)
class Clip:
    id: str
    lang: str
    text: str
    audio: Path | bytes | np.ndarray  # a file, encoded bytes, or 16 kHz float32 samples
    seconds: float = 0.0


@dataclass(frozen=True)
class Split:
    train: list[Clip]
    validation: list[Clip]

    def seconds(self) -> dict[str, float]:
        return {"train": sum(c.seconds for c in self.train), "validation": sum(c.seconds for c in self.validation)}


def _audio_file(folder: Path, clip_id: str) -> Path | None:
    return next((folder / f"{clip_id}{s}" for s in AUDIO_SUFFIXES if (folder / f"{clip_id}{s}").is_file()), None)


def load_manifest(folder: Path, language: str | None = None) -> list[Clip]:
    """Clips listed in ``manifest.tsv`` whose audio exists; clips over 30 s are skipped with a warning."""
    clips, too_long = [], 0
    for row in read_manifest_rows(folder):
        lang = row.lang or (language or "").strip()
        if language and lang != language:
            continue
        path = _audio_file(folder, row.id)
        if path is None:
            raise InvalidOption(f"no audio file for {row.id!r} in {folder}",
                                hint=f"name it {row.id}.flac (or {', '.join(AUDIO_SUFFIXES[1:])})")
        if row.seconds > MAX_SECONDS:
            too_long += 1
            continue
        clips.append(Clip(row.id, lang, row.text, path, row.seconds))
    if too_long:
        log.warning("skipped %d clips longer than %.0f s (Whisper trains on 30-second windows)", too_long, MAX_SECONDS)
    return clips


def _clip_from_row(i: int, row: dict[str, Any], language: str | None) -> Clip | None:
    text_col = next((c for c in TEXT_COLUMNS if c in row), None)
    if text_col is None:
        raise InvalidOption(f"the dataset has no text column ({', '.join(TEXT_COLUMNS)})")
    audio = row["audio"]
    source: Path | bytes = audio["bytes"] if audio.get("bytes") else Path(audio["path"])
    lang = str(row.get("lang") or row.get("language") or language or "")
    if language and lang != language:
        return None
    seconds = float(row.get("seconds") or 0) or probe_duration(source) or 0.0
    if seconds > MAX_SECONDS:
        log.warning("skipped dataset row %s: %.0f s is longer than one Whisper window", row.get("id", i), seconds)
        return None
    return Clip(str(row.get("id", i)), lang, str(row[text_col]).strip(), source, seconds)


def load_hf_dataset(folder: Path, language: str | None = None) -> dict[str, list[Clip]]:
    """A ``datasets`` folder: its own splits are kept; audio is decoded by habla (PyAV), not by datasets."""
    try:
        import datasets
    except ImportError:
        raise InvalidOption("reading a datasets folder needs the datasets library",
                            hint="pip install 'habla[finetune]'") from None
    loaded = datasets.load_from_disk(str(folder))
    splits = loaded if isinstance(loaded, datasets.DatasetDict) else {"train": loaded}
    out: dict[str, list[Clip]] = {}
    for name, ds in splits.items():
        if "audio" not in ds.column_names:
            raise InvalidOption(f"the dataset split {name!r} has no 'audio' column")
        ds = ds.cast_column("audio", datasets.Audio(decode=False))
        out[name] = [c for i, row in enumerate(ds) if (c := _clip_from_row(i, row, language))]
    return out


def split(clips: list[Clip], validation: float = 0.2, seed: int = 0) -> Split:
    """Hold out ``validation`` of each language's clips (at least one when it has two or more), reproducibly."""
    by_lang: dict[str, list[Clip]] = {}
    for clip in clips:
        by_lang.setdefault(clip.lang, []).append(clip)
    train, held = [], []
    for lang in sorted(by_lang):
        group = sorted(by_lang[lang], key=lambda c: c.id)
        random.Random(f"{seed}-{lang}").shuffle(group)
        n = min(len(group) - 1, max(1, math.ceil(len(group) * validation))) if len(group) > 1 else 0
        held += group[:n]
        train += group[n:]
    return Split(train, held)


def load(data_dir: Path, validation: float = 0.2, seed: int = 0, language: str | None = None) -> Split:
    if not data_dir.is_dir():
        raise InvalidOption(f"{data_dir} is not a folder", hint="pass a folder with audio files and manifest.tsv")
    if (data_dir / "manifest.tsv").is_file():
        result = split(load_manifest(data_dir, language), validation, seed)
    elif (data_dir / "dataset_dict.json").is_file() or (data_dir / "dataset_info.json").is_file():
        parts = load_hf_dataset(data_dir, language)
        held = parts.get("validation") or parts.get("test")
        result = Split(parts["train"], held) if held else split(parts["train"], validation, seed)
    else:
        raise InvalidOption(f"{data_dir} has neither manifest.tsv nor a saved datasets folder",
                            hint="manifest.tsv columns: id, lang, seconds, text (tab-separated)")
    if not result.train:
        raise InvalidOption(f"no training clips in {data_dir}" + (f" for language {language!r}" if language else ""))
    return result


class WhisperDataset:
    """Clips → ``{"input_features", "labels"}`` for the trainer, computed on access to keep memory flat."""

    def __init__(self, clips: list[Clip], processor: WhisperProcessor) -> None:
        from habla.finetune.processor import label_ids

        self.clips = clips
        self.processor = processor
        self.labels = [label_ids(processor.tokenizer, c.text, c.lang) for c in clips]  # bad languages fail now

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> dict[str, Any]:
        audio = decode(self.clips[i].audio)
        features = self.processor.feature_extractor(audio, sampling_rate=SAMPLE_RATE, return_tensors="np")
        return {"input_features": features.input_features[0], "labels": self.labels[i]}


class Collator:
    """Stack features; pad labels with -100 so padding costs no loss."""

    def __call__(self, batch: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = max(len(b["labels"]) for b in batch)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        for row, b in enumerate(batch):
            labels[row, : len(b["labels"])] = torch.tensor(b["labels"])
        features = torch.from_numpy(np.stack([b["input_features"] for b in batch]))
        return {"input_features": features, "labels": labels}
