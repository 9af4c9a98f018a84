"""``habla bench DIR``: WER, speed, load time and memory of habla next to plain faster-whisper.
``habla bench voice``: end of user speech → first reply audio of the talk pipeline, per stage."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from habla.errors import InvalidOption

console = Console()
VOICE = "voice"


def bench(
    target: str = typer.Argument(..., metavar="DIR|voice",
                                 help="Folder with audio files and manifest.tsv (id, lang, seconds, text), "
                                      "or `voice` for the talk pipeline's latency."),
    model: str = typer.Option("base", "--model", "-m"),
    long_minutes: float = typer.Option(10.0, "--long-minutes",
                                       help="Length of each long-form variant per language (the 45-min one excepted); "
                                            "0 skips the variants."),
    variants: str = typer.Option("all", "--variants",
                                 help="Long-form variants, comma-separated: shuffled, ordered, long-pauses, noise-bed, "
                                      "45-min, or all."),
    seeds: str = typer.Option("held-out", "--seeds", help="Seed set of the variants: held-out (report), tuning, "
                                                         "or either with a number for new files (held-out-2)."),
    clip_set: bool = typer.Option(True, "--clips/--no-clips", help="Also score every clip on its own."),
    compare: bool = typer.Option(True, "--compare/--no-compare",
                                 help="Also run plain faster-whisper with its defaults."),
    speech: Path | None = typer.Option(None, "--speech", help="voice: folder of recorded turns (manifest.tsv)."),
    turns: int = typer.Option(20, "--turns", min=1, help="voice: complete turns per language, streamed in real time."),
    paused: int = typer.Option(20, "--paused", min=0, help="voice: turns with a 400-1200 ms pause inserted "
                               "mid-sentence, per language."),
    language: str = typer.Option("en,es", "--language", "-l", help="voice: languages of the turns, comma-separated."),
    turn_detection: str | None = typer.Option(None, "--turn-detection", help="voice: semantic or silence "
                                              "[default: the setting]."),
    cuts: str = typer.Option("reference", "--cuts", help="voice: where mid-sentence pauses go: `reference` (between "
                             "two words of one sentence of the manifest's text) or `whisper` (the construction before "
                             "issue 16: where Whisper wrote no sentence end, which also cut between sentences)."),
    turn_set: str = typer.Option("default", "--set", help="voice: `default` (--turns/--paused from both halves, seed "
                                 "16) or `held-out-2` (24 + 24 turns per language from held-out clips only, a new "
                                 "seed; overrides --turns/--paused)."),
    live: bool = typer.Option(True, "--live/--decisions-only", help="voice: also stream the turns through the "
                              "whole pipeline in real time (LLM, TTS), not only the turn detection's decisions."),
    json_path: Path | None = typer.Option(None, "--json", help="Where the JSON report goes "
                                          "[default: bench-results/bench.json, or voice.json]."),
) -> None:
    """Benchmark transcription accuracy and speed on a folder of clips with references, or the talk latency."""
    folder = Path(target)
    if target == VOICE and not folder.is_dir():
        if speech is None:
            raise InvalidOption("bench voice needs --speech DIR", hint="a folder of recorded turns with manifest.tsv")
        if cuts not in ("reference", "whisper"):
            raise InvalidOption(f"--cuts must be reference or whisper, not {cuts!r}")
        if turn_set not in ("default", "held-out-2"):
            raise InvalidOption(f"--set must be default or held-out-2, not {turn_set!r}")
        _bench_voice(speech, turns, paused, language, turn_detection, live, cuts,
                     json_path or Path("bench-results/voice.json"), turn_set)
    else:
        _bench_asr(folder, model, long_minutes, variants, seeds, clip_set, compare,
                   json_path or Path("bench-results/bench.json"))


def _bench_asr(folder: Path, model: str, long_minutes: float, variants: str, seeds: str, clip_set: bool,
               compare: bool, json_path: Path) -> None:
    from habla.asr.bench import VARIANTS, benchmark, parse_variants, write_report

    chosen = list(VARIANTS.values()) if variants == "all" else parse_variants(variants)
    report = benchmark(folder, model, long_minutes, compare, json_path.parent,
                       on_step=lambda msg: console.print(f"[dim]{msg}[/]"),
                       variants=chosen if long_minutes > 0 else [], seed_set=seeds, clip_set=clip_set)
    write_report(report, json_path)
    _print_asr(report)
    console.print(f"report: {json_path}")


def _bench_voice(speech: Path, turns: int, paused: int, language: str, turn_detection: str | None, live: bool,
                 cuts: str, json_path: Path, turn_set: str = "default") -> None:
    from habla.asr.bench import write_report
    from habla.config import load_settings
    from habla.voice.bench import DEFAULT_SEED, HELD_OUT_2, benchmark

    chosen = HELD_OUT_2 if turn_set == "held-out-2" else {"seed": DEFAULT_SEED, "turns": turns, "paused": paused,
                                                          "held_out_only": False}
    report = benchmark(load_settings(), speech, int(chosen["turns"]), language, int(chosen["paused"]),
                       turn_detection, live, on_step=lambda msg: console.print(f"[dim]{msg}[/]"),
                       cuts=cuts, seed=int(chosen["seed"]),  # type: ignore[arg-type]
                       held_out_only=bool(chosen["held_out_only"]))
    write_report(report, json_path)
    detection = report["turn_detection"]
    table = Table(title=f"habla bench voice — {report['answered']}/{report['turns']} turns answered; "
                        f"{report['asr_model']} + {report['llm_model']} + {report['voice']} "
                        f"(load {report['load_seconds']} s, turn detection {detection['type']} "
                        f"{detection['eagerness']})")
    for col in ("set", "turns", "n", "first audio from last voiced sample p50", "p95", "max", "premature ends",
                "fixed 500 ms: premature"):
        table.add_column(col, justify="right")
    for name, row in report["latency"].items():
        latency = row.get("from_last_voiced_sample") or {}
        premature = f"{row['premature']}/{row['turns']}"
        fixed = f"{row['silence_500ms_premature_rate'] * 100:.0f} %"
        table.add_row(name, str(row["turns"]), str(latency.get("n", 0)),
                      *(_fmt(latency.get(k), 3) for k in ("p50", "p95", "max")), premature, fixed)
    if report["latency"]:
        console.print(table)
        for name, row in report["latency"].items():
            if name.startswith("complete_") and row.get("stages"):
                stages = row["stages"]
                console.print(f"{name}: p50 / p95 seconds — silence waited " + _p(stages["endpoint_wait"]) +
                              "; the reply's work from its start (at a pause: lead before the end decision "
                              + _p(stages["lead"]) + "): transcript " + _p(stages["work_transcript"]) +
                              ", first token " + _p(stages["work_first_token"]) + ", first sentence " +
                              _p(stages["work_first_sentence"]) + ", first audio " + _p(stages["work_first_audio"]))
    decisions = Table(title="turn detection alone (instant decoding): premature ends, silence waited after a "
                            "complete turn")
    for col in ("set", "turns", f"{detection['type']}: premature", "waited ms p50", "p95",
                f"silence {report['end_silence_ms']} ms: premature"):
        decisions.add_column(col, justify="right")
    chosen, fixed_silence = report["decisions"]["chosen"], report["decisions"]["silence"]
    for name, row in chosen.items():
        waited = row["waited_ms"]
        decisions.add_row(name, str(row["turns"]), f"{row['premature']}", _fmt(waited.get("p50"), 0),
                          _fmt(waited.get("p95"), 0), f"{fixed_silence[name]['premature']}")
    console.print(decisions)
    console.print(f"report: {json_path}")


def _p(stats: dict) -> str:
    return f"{_fmt(stats.get('p50'), 3)} / {_fmt(stats.get('p95'), 3)}"


def _print_asr(report: dict) -> None:
    table = Table(title=f"habla bench — model {report['model']}, {report['clips']} clips, {report['seed_set']} "
                        "variants (fw = plain faster-whisper defaults)")
    for col in ("set", "lang", "audio s", "WER %", "fw WER %", "ΔWER", "RTF", "fw RTF", "speed-up", "peak MB"):
        table.add_column(col, justify="right")
    for row in report.get("clip_results", []) + report.get("variant_results", []):
        table.add_row(row["group"], row["lang"], f"{row['audio_seconds']:.0f}",
                      _fmt(row["wer"].get("habla")), _fmt(row["wer"].get("faster-whisper")), _fmt(row["wer_delta"]),
                      _fmt(row["rtf"].get("habla"), 3), _fmt(row["rtf"].get("faster-whisper"), 3),
                      f"{row['speedup']}×" if row.get("speedup") else "-", _fmt(row["peak_rss_mb"].get("habla"), 0))
    for row in report.get("worst_case", []):
        table.add_row(f"[bold]worst[/] ({row['wer_set']})", row["lang"], "", _fmt(row["wer"].get("habla")),
                      _fmt(row["wer"].get("faster-whisper")),
                      _fmt(row.get("wer_delta")) + (f" ({row['wer_delta_set']})" if "wer_delta_set" in row else ""),
                      "", "", f"{row['speedup']}× ({row['speedup_set']})" if row.get("speedup") else "-", "")
    console.print(table)
    for engine, figs in report["engines"].items():
        console.print(f"{engine}: load {figs['load_seconds']} s, peak RSS {figs['peak_rss_mb']} MB, "
                      f"words on silence clips: {report['silence_words'][engine]}")


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
