"""``habla bench``: accuracy and speed of habla against plain faster-whisper on a folder with manifest.tsv.

Each engine runs in its own process (so load time and peak memory are its own):
- clips: every clip of the manifest, WER per language and words produced on silence clips;
- variants: per language, the clips joined into long files built in different ways (shuffled or in order, short
  or long pauses, under a noise/music bed, 45 minutes), the case habla is built for; speed (real-time factor),
  WER and its errors side by side, and the worst case over every set.
Variant audio and plain faster-whisper's outputs are cached under ``work_dir/cache`` (neither changes when habla
does), so re-running after a change to habla decodes only with habla.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import random
import re
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
from habla.audio.manifest import read_manifest_rows
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
    group: str = ""  # "clips" or the variant's name
    errors: dict[str, dict[str, int]] = field(default_factory=dict)  # engine -> substitutions, deletions, ...
    peak_rss_mb: dict[str, float] = field(default_factory=dict)


def read_manifest(folder: Path) -> list[Clip]:
    """The manifest's clips whose audio file is in the folder."""
    clips = []
    for row in read_manifest_rows(folder):
        matches = sorted(folder.glob(f"{row.id}.*"))
        if matches:
            clips.append(Clip(row.id, row.lang, row.seconds, row.text, matches[0]))
    return clips


@dataclass(frozen=True)
class Variant:
    """One way of joining the clips into a long file. Each stresses a different weakness of long-form decoding."""

    name: str
    shuffled: bool  # False: manifest order (similar consecutive phrases, as phone menus and lectures have)
    pause_seconds: tuple[float, float]  # pause after each clip, drawn uniformly
    snr_db: tuple[float, float] | None = None  # speech over a generated noise/music bed at this SNR, per clip
    minutes: float | None = None  # None: the run's ``long_minutes``

    def build_minutes(self, long_minutes: float) -> float:
        return self.minutes if self.minutes is not None else long_minutes


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("shuffled", True, (0.3, 1.5)),
    Variant("ordered", False, (0.7, 0.7)),
    Variant("long-pauses", True, (2.0, 8.0)),
    Variant("noise-bed", True, (0.3, 1.5), snr_db=(10.0, 20.0)),
    Variant("45-min", True, (0.3, 1.5), minutes=45.0),
)}
# Settings are tuned on the "tuning" files; figures are reported on "held-out" ones (other shuffles, pauses, noise
# and, for the ordered file, another starting clip), so a setting that only fits one file shows up as a regression.
# A measured held-out set stops being held out once settings were chosen while looking at it: a new one is
# "held-out-2", "held-out-3", … (and "tuning-2", … for more tuning files); each number builds other files.
SEED_SETS = ("tuning", "held-out")
_SEED_SET = re.compile(r"(tuning|held-out)(-[1-9][0-9]*)?")
_BUILD_VERSION = 3  # bump when the construction changes, so cached files are rebuilt


def check_seed_set(name: str) -> str:
    if not _SEED_SET.fullmatch(name):
        raise InvalidOption(f"unknown seed set {name!r}",
                            hint=f"choose from {', '.join(SEED_SETS)}, or one of them with a number: held-out-2")
    return name


def parse_variants(names: str) -> list[Variant]:
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in VARIANTS]
    if unknown or not chosen:
        raise InvalidOption(f"unknown variant {', '.join(unknown) or names!r}",
                            hint=f"choose from {', '.join(VARIANTS)} (comma-separated)")
    return [VARIANTS[n] for n in chosen]


def _clip_order(speech: list[Clip], variant: Variant, rng: random.Random, seconds: float) -> list[Clip]:
    """Clips until ``seconds`` of audio (pauses counted at their mean): shuffled passes, or the manifest's order
    from a seed-chosen clip, wrapping around."""
    order: list[Clip] = []
    total = 0.0
    start = rng.randrange(len(speech))
    while total < seconds:
        batch = rng.sample(speech, len(speech)) if variant.shuffled else speech[start:] + speech[:start]
        for clip in batch:
            if total >= seconds:
                break
            order.append(clip)
            total += clip.seconds + sum(variant.pause_seconds) / 2
    return order


def noise_bed(samples: int, rng: np.random.Generator) -> np.ndarray:
    """A bed of unit RMS: pink noise mixed with a "music" of slow sine chords (a café, a radio in the room)."""
    white = rng.standard_normal(samples)
    spectrum = np.fft.rfft(white)
    spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))  # 1/f power: pink
    pink = np.fft.irfft(spectrum, samples)
    t = np.arange(samples) / SAMPLE_RATE
    root = 110.0 * 2 ** (rng.integers(0, 12) / 12)
    chord = sum(np.sin(2 * np.pi * root * ratio * t + rng.uniform(0, 6.3)) for ratio in (1.0, 1.26, 1.5, 2.0))
    music = chord * (0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.2, 0.8) * t))  # tremolo
    mix = rng.uniform(0.3, 0.7)
    bed = mix * pink / (np.std(pink) or 1.0) + (1 - mix) * music / (np.std(music) or 1.0)
    return (bed / (np.std(bed) or 1.0)).astype(np.float32)


def build_variant(clips: list[Clip], variant: Variant, lang: str, out_dir: Path, long_minutes: float,
                  seed_set: str = "held-out") -> Clip | None:
    """The variant's long file for one language (cached: built once per construction, seed set and length)."""
    speech = [c for c in clips if c.lang == lang and c.text.strip()]
    if not speech:
        return None
    minutes = variant.build_minutes(long_minutes)
    name = f"{variant.name}-{lang}-{minutes:g}min-{seed_set}-v{_BUILD_VERSION}"
    wav, ref = out_dir / f"{name}.wav", out_dir / f"{name}.txt"
    if wav.is_file() and ref.is_file():
        text = ref.read_text(encoding="utf-8")
        return Clip(name, lang, wav.stat().st_size / 2 / SAMPLE_RATE, text, wav)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"{seed_set}:{variant.name}:{lang}")  # str seeds are stable across runs and platforms
    noise_rng = np.random.default_rng(rng.randrange(2**32))
    pieces, texts = [], []
    for clip in _clip_order(speech, variant, rng, minutes * 60):
        voice = decode(clip.path)
        pause = np.zeros(int(SAMPLE_RATE * rng.uniform(*variant.pause_seconds)), np.float32)
        piece = np.concatenate([voice, pause])
        if variant.snr_db:
            level = float(np.sqrt(np.mean(voice**2))) or 1e-4
            snr = rng.uniform(*variant.snr_db)
            piece = piece + noise_bed(len(piece), noise_rng) * level / 10 ** (snr / 20)
        pieces.append(piece)
        texts.append(clip.text)
    audio = np.concatenate(pieces)
    write_wav(wav, audio / max(1.0, float(np.max(np.abs(audio)))))
    ref.write_text(" ".join(texts), encoding="utf-8")
    return Clip(name, lang, len(audio) / SAMPLE_RATE, " ".join(texts), wav)


def _run_engine(engine: str, model: str, files: list[tuple[str, str]], queue: mp.Queue) -> None:
    """Child process: load the engine, transcribe (path, language) pairs, report texts and timings."""
    started = time.perf_counter()
    if engine == "habla":
        from habla.asr.transcriber import Transcriber

        transcriber = Transcriber.from_settings()
        transcriber.warm(model)
        load = time.perf_counter() - started

        def transcribe(path: str, lang: str) -> str:
            return transcriber.transcribe(path, model, transcriber.default_options(language=lang)).text
    else:
        from faster_whisper import WhisperModel

        from habla.config import load_settings
        from habla.models.store import ModelStore

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


def _run_child(engine: str, model: str, clips: list[Clip]) -> EngineRun:
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


def _cache_key(engine: str, model: str, clip: Clip) -> str:
    from faster_whisper import __version__ as fw_version

    return f"{engine}-{fw_version}-{model}-{clip.path.stem}-{clip.path.stat().st_size}"


def run_engine(engine: str, model: str, clips: list[Clip], cache_dir: Path | None = None) -> EngineRun:
    """Run ``engine`` on ``clips`` in its own process. With ``cache_dir``, outputs found there are reused and new
    ones stored (for the fixed faster-whisper baseline: its output depends only on the file, model and version)."""
    if cache_dir is None:
        return _run_child(engine, model, clips)
    entries: dict[int, dict] = {}
    for i, clip in enumerate(clips):
        path = cache_dir / f"{_cache_key(engine, model, clip)}.json"
        if path.is_file():
            entries[i] = json.loads(path.read_text(encoding="utf-8"))
    todo = [i for i in range(len(clips)) if i not in entries]
    if todo:
        fresh = _run_child(engine, model, [clips[i] for i in todo])
        cache_dir.mkdir(parents=True, exist_ok=True)
        for i, text, seconds in zip(todo, fresh.texts, fresh.seconds, strict=True):
            entries[i] = {"text": text, "seconds": seconds, "load_seconds": fresh.load_seconds,
                          "peak_rss_mb": fresh.peak_rss_mb}
            path = cache_dir / f"{_cache_key(engine, model, clips[i])}.json"
            path.write_text(json.dumps(entries[i], ensure_ascii=False), encoding="utf-8")
    ordered = [entries[i] for i in range(len(clips))]
    return EngineRun(engine, max(e["load_seconds"] for e in ordered), [e["text"] for e in ordered],
                     [e["seconds"] for e in ordered], max(e["peak_rss_mb"] for e in ordered))


def figures(clips: list[Clip], runs: list[EngineRun], group: str = "") -> list[LanguageFigures]:
    out = []
    for lang in sorted({c.lang for c in clips}):
        idx = [i for i, c in enumerate(clips) if c.lang == lang]
        fig = LanguageFigures(lang, len(idx), round(sum(clips[i].seconds for i in idx), 2), group=group)
        for run in runs:
            wer = word_error_rate([clips[i].text for i in idx], [run.texts[i] for i in idx], lang)
            fig.wer[run.engine] = round(100 * wer.wer, 2)
            fig.errors[run.engine] = {"substitutions": wer.substitutions, "deletions": wer.deletions,
                                      "insertions": wer.insertions, "reference_words": wer.words}
            fig.rtf[run.engine] = round(sum(run.seconds[i] for i in idx) / fig.audio_seconds, 4)
            fig.peak_rss_mb[run.engine] = round(run.peak_rss_mb)
        if len(runs) == 2:
            a, b = runs[0].engine, runs[1].engine
            fig.speedup = round(fig.rtf[b] / fig.rtf[a], 2) if fig.rtf[a] else None
            fig.wer_delta = round(fig.wer[a] - fig.wer[b], 2)
        out.append(fig)
    return out


def silence_words(clips: list[Clip], run: EngineRun) -> int:
    return sum(len(run.texts[i].split()) for i, c in enumerate(clips) if not c.text.strip())


def worst_case(rows: list[LanguageFigures]) -> list[dict]:
    """Per language, the worst figure over every set (clips and variants), and which set it came from."""
    out = []
    for lang in sorted({r.lang for r in rows}):
        mine = [r for r in rows if r.lang == lang]
        worst = max(mine, key=lambda r: r.wer.get("habla", 0.0))
        entry: dict = {"lang": lang, "sets": len(mine), "wer": dict(worst.wer), "wer_set": worst.group}
        deltas = [r for r in mine if r.wer_delta is not None]
        if deltas:
            worst_delta = max(deltas, key=lambda r: r.wer_delta or 0.0)
            entry.update(wer_delta=worst_delta.wer_delta, wer_delta_set=worst_delta.group)
        speedups = [r for r in mine if r.speedup]
        if speedups:
            slowest = min(speedups, key=lambda r: r.speedup or 0.0)
            entry.update(speedup=slowest.speedup, speedup_set=slowest.group)
        out.append(entry)
    return out


def benchmark(folder: Path, model: str = "base", long_minutes: float = 10.0, compare: bool = True,
              work_dir: Path = Path("bench-results"), on_step: Callable[[str], object] = print,
              variants: list[Variant] | None = None, seed_set: str = "held-out",
              clip_set: bool = True) -> dict[str, Any]:
    """Clip set and long-form variants, habla and (with ``compare``) plain faster-whisper, with the worst case."""
    check_seed_set(seed_set)
    clips = read_manifest(folder)
    if not clips:
        raise InvalidOption(f"{folder}/manifest.tsv lists no audio file found in {folder}")
    engines = ENGINES if compare else ENGINES[:1]
    cache = work_dir / "cache"
    caches = {"habla": None, "faster-whisper": cache / "faster-whisper"}
    report: dict = {"model": model, "folder": str(folder), "clips": len(clips), "seed_set": seed_set,
                    "audio_seconds": round(sum(c.seconds for c in clips), 1), "engines": {}}
    rows: list[LanguageFigures] = []
    if clip_set:
        on_step(f"clips: {len(clips)} files, {report['audio_seconds']} s of audio")
        clip_runs = [run_engine(e, model, clips, caches[e]) for e in engines]
        report["clip_results"] = [asdict(f) for f in figures(clips, clip_runs, "clips")]
        rows += figures(clips, clip_runs, "clips")
        report["silence_words"] = {r.engine: silence_words(clips, r) for r in clip_runs}
        report["engines"] = {r.engine: {"load_seconds": round(r.load_seconds, 2), "peak_rss_mb": round(r.peak_rss_mb)}
                             for r in clip_runs}
    chosen = variants if variants is not None else (list(VARIANTS.values()) if long_minutes > 0 else [])
    report["variant_results"] = []
    for variant in chosen:
        files = [f for lang in sorted({c.lang for c in clips})
                 if (f := build_variant(clips, variant, lang, cache / "variants", long_minutes, seed_set))]
        for file in files:  # one process per file: its peak memory is the file's own
            on_step(f"{variant.name} {file.lang}: {file.seconds / 60:.1f} min")
            runs = [run_engine(e, model, [file], caches[e]) for e in engines]
            for fig in figures([file], runs, variant.name):
                rows.append(fig)
                report["variant_results"].append(asdict(fig))
    report["worst_case"] = worst_case(rows)
    return report
def write_report(report: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
