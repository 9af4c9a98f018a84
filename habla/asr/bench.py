"""``habla bench``: accuracy and speed of habla against plain faster-whisper on a folder with manifest.tsv.

Two measurements, each engine in its own process (so load time and peak memory are its own):
- clips: every clip of the manifest, WER per language and words produced on silence clips;
- long-form: per language, the clips joined (with pauses) into one file of at least ``long_minutes``, the case
  habla is built for; speed (real-time factor) and WER side by side.
"""

from __future__ import annotations

import csv
import json
import multiprocessing as mp
import random
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any

import numpy as np

from habla.asr.wer import word_error_rate
from habla.audio.decode import SAMPLE_RATE, decode
from habla.audio.wav import write_wav
from habla.errors import HablaError, InvalidOption

ENGINES = ("habla", "faster-whisper")


@dataclass(frozen=True)
class Clip:
    id: str
    lang: str
    seconds: float
    text: str
    path: Path


@dataclass
class EngineRun:
    """What one engine produced on a list of files, measured inside its own process."""

    engine: str
    load_seconds: float
    texts: list[str]
    seconds: list[float]  # processing time per file
    peak_rss_mb: float


@dataclass
class LanguageFigures:
    lang: str
    files: int
    audio_seconds: float
    wer: dict[str, float] = field(default_factory=dict)  # engine -> WER %
    rtf: dict[str, float] = field(default_factory=dict)
    speedup: float | None = None
    wer_delta: float | None = None


def read_manifest(folder: Path) -> list[Clip]:
    manifest = folder / "manifest.tsv"
    if not manifest.is_file():
        raise InvalidOption(f"{folder} has no manifest.tsv", hint="columns: id, lang, seconds, text")
    clips = []
    with manifest.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            matches = sorted(folder.glob(f"{row['id']}.*"))
            if matches:
                clips.append(Clip(row["id"], row["lang"], float(row["seconds"]), row.get("text") or "",
                                  matches[0]))
    return clips


def build_long_files(clips: list[Clip], out_dir: Path, minutes: float, seed: int = 0) -> list[Clip]:
    """Per language, join the speech clips (shuffled, repeated if needed) with 0.3-1.5 s pauses into one WAV."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    long_clips = []
    for lang in sorted({c.lang for c in clips}):
        speech = [c for c in clips if c.lang == lang and c.text.strip()]
        if not speech:
            continue
        order, total = [], 0.0
        while total < minutes * 60:
            batch = rng.sample(speech, len(speech))
            order += batch
            total += sum(c.seconds + 0.9 for c in batch)
        pieces, texts = [], []
        for clip in order:
            pieces += [decode(clip.path), np.zeros(int(SAMPLE_RATE * rng.uniform(0.3, 1.5)), np.float32)]
            texts.append(clip.text)
        audio = np.concatenate(pieces)
        path = write_wav(out_dir / f"long-{lang}.wav", audio)
        long_clips.append(Clip(f"long-{lang}", lang, len(audio) / SAMPLE_RATE, " ".join(texts), path))
    return long_clips


def _run_engine(engine: str, model: str, files: list[tuple[str, str]], queue: mp.Queue) -> None:
    """Child process: load the engine, transcribe (path, language) pairs, report texts and timings."""
    started = time.perf_counter()
    if engine == "habla":
        from habla.asr.transcriber import Transcriber

        transcriber = Transcriber()
        transcriber.warm(model)
        load = time.perf_counter() - started

        def transcribe(path: str, lang: str) -> str:
            return transcriber.transcribe(path, model, transcriber.default_options(language=lang)).text
    else:
        from faster_whisper import WhisperModel

        from habla.models.store import ModelStore
        from habla.config import load_settings

        location = ModelStore(load_settings().models).locate(model)
        plain = WhisperModel(str(location.path))  # faster-whisper's defaults, as a user would call it
        load = time.perf_counter() - started

        def transcribe(path: str, lang: str) -> str:
            segments, _ = plain.transcribe(path, language=lang)
            return " ".join(s.text.strip() for s in segments)

    texts, seconds = [], []
    for path, lang in files:
        t0 = time.perf_counter()
        texts.append(transcribe(path, lang))
        seconds.append(time.perf_counter() - t0)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(EngineRun(engine, load, texts, seconds, peak_mb))


def run_engine(engine: str, model: str, clips: list[Clip]) -> EngineRun:
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=_run_engine, args=(engine, model, [(str(c.path), c.lang) for c in clips], queue))
    proc.start()
    while True:  # a child that dies (crash, OOM) must not leave us waiting forever
        try:
            result = queue.get(timeout=1.0)
            break
        except Empty:
            if not proc.is_alive():
                raise HablaError(f"the {engine} benchmark process died (exit code {proc.exitcode})") from None
    proc.join()
    return result


def figures(clips: list[Clip], runs: list[EngineRun]) -> list[LanguageFigures]:
    out = []
    for lang in sorted({c.lang for c in clips}):
        idx = [i for i, c in enumerate(clips) if c.lang == lang]
        fig = LanguageFigures(lang, len(idx), round(sum(clips[i].seconds for i in idx), 2))
        for run in runs:
            wer = word_error_rate([clips[i].text for i in idx], [run.texts[i] for i in idx], lang)
            fig.wer[run.engine] = round(100 * wer.wer, 2)
            fig.rtf[run.engine] = round(sum(run.seconds[i] for i in idx) / fig.audio_seconds, 4)
        if len(runs) == 2:
            a, b = runs[0].engine, runs[1].engine
            fig.speedup = round(fig.rtf[b] / fig.rtf[a], 2) if fig.rtf[a] else None
            fig.wer_delta = round(fig.wer[a] - fig.wer[b], 2)
        out.append(fig)
    return out


def silence_words(clips: list[Clip], run: EngineRun) -> int:
    return sum(len(run.texts[i].split()) for i, c in enumerate(clips) if not c.text.strip())


def benchmark(folder: Path, model: str = "base", long_minutes: float = 10.0, compare: bool = True,
              work_dir: Path = Path("bench-results"),
              on_step: Callable[[str], object] = print) -> dict[str, Any]:
    clips = read_manifest(folder)
    engines = ENGINES if compare else ENGINES[:1]
    report: dict = {"model": model, "folder": str(folder), "clips": len(clips),
                    "audio_seconds": round(sum(c.seconds for c in clips), 1)}
    on_step(f"clips: {len(clips)} files, {report['audio_seconds']} s of audio")
    clip_runs = [run_engine(e, model, clips) for e in engines]
    report["clip_results"] = [asdict(f) for f in figures(clips, clip_runs)]
    report["silence_words"] = {r.engine: silence_words(clips, r) for r in clip_runs}
    report["engines"] = {r.engine: {"load_seconds": round(r.load_seconds, 2), "peak_rss_mb": round(r.peak_rss_mb)}
                         for r in clip_runs}
    if long_minutes > 0:
        long_clips = build_long_files(clips, work_dir / "long", long_minutes)
        on_step(f"long-form: {', '.join(f'{c.lang} {c.seconds / 60:.1f} min' for c in long_clips)}")
        long_runs = [run_engine(e, model, long_clips) for e in engines]
        report["long_results"] = [asdict(f) for f in figures(long_clips, long_runs)]
        for r in long_runs:
            report["engines"][r.engine]["long_peak_rss_mb"] = round(r.peak_rss_mb)
    return report


def write_report(report: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
