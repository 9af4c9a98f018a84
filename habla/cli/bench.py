"""``habla bench DIR``: WER, speed, load time and memory of habla next to plain faster-whisper.
``habla bench voice``: end of user speech → first reply audio of the talk pipeline, per stage."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()
VOICE = "voice"
DEFAULT_SPEECH = Path("../shared/testdata/speech")  # the test recordings next to a checkout


def bench(
    target: str = typer.Argument(..., metavar="DIR|voice",
                                 help="Folder with audio files and manifest.tsv (id, lang, seconds, text), "
                                      "or `voice` for the talk pipeline's latency."),
    model: str = typer.Option("base", "--model", "-m"),
    long_minutes: float = typer.Option(10.0, "--long-minutes",
                                      help="Length of the joined long-form file per language; 0 skips it."),
    compare: bool = typer.Option(True, "--compare/--no-compare",
                                 help="Also run plain faster-whisper with its defaults."),
    speech: Path = typer.Option(DEFAULT_SPEECH, "--speech", help="voice: folder of recorded turns (manifest.tsv)."),
    turns: int = typer.Option(20, "--turns", min=1, help="voice: scripted turns, streamed in real time."),
    language: str = typer.Option("en", "--language", "-l", help="voice: language of the turns."),
    json_path: Path | None = typer.Option(None, "--json", help="Where the JSON report goes "
                                          "[default: bench-results/bench.json, or voice.json]."),
) -> None:
    """Benchmark transcription accuracy and speed on a folder of clips with references, or the talk latency."""
    folder = Path(target)
    if target == VOICE and not folder.is_dir():
        _bench_voice(speech, turns, language, json_path or Path("bench-results/voice.json"))
    else:
        _bench_asr(folder, model, long_minutes, compare, json_path or Path("bench-results/bench.json"))


def _bench_asr(folder: Path, model: str, long_minutes: float, compare: bool, json_path: Path) -> None:
    from habla.asr.bench import benchmark, write_report

    report = benchmark(folder, model, long_minutes, compare, json_path.parent,
                       on_step=lambda msg: console.print(f"[dim]{msg}[/]"))
    write_report(report, json_path)
    _print_asr(report)
    console.print(f"report: {json_path}")


def _bench_voice(speech: Path, turns: int, language: str, json_path: Path) -> None:
    from habla.asr.bench import write_report
    from habla.config import load_settings
    from habla.voice.bench import STAGES, benchmark

    report = benchmark(load_settings(), speech, turns, language, on_step=lambda msg: console.print(f"[dim]{msg}[/]"))
    write_report(report, json_path)
    table = Table(title=f"habla bench voice — {report['answered']}/{report['turns']} turns answered; "
                        f"{report['asr_model']} + {report['llm_model']} + {report['voice']} "
                        f"(load {report['load_seconds']} s, end silence {report['end_silence_ms']} ms)")
    for col in ("seconds after the end of speech", "p50", "p95", "max"):
        table.add_column(col, justify="right")
    for stage in (*STAGES, "from_last_voiced_sample"):
        row = report["latency"].get(stage) or {}
        table.add_row(stage, *(_fmt(row.get(k), 3) for k in ("p50", "p95", "max")))
    console.print(table)
    console.print(f"report: {json_path}")


def _print_asr(report: dict) -> None:
    table = Table(title=f"habla bench — model {report['model']}, {report['clips']} clips "
                        "(fw = plain faster-whisper defaults)")
    for col in ("set", "lang", "audio s", "WER %", "fw WER %", "ΔWER", "RTF", "fw RTF", "speed-up"):
        table.add_column(col, justify="right")
    for name in ("clip_results", "long_results"):
        for row in report.get(name, []):
            table.add_row(name.split("_")[0], row["lang"], f"{row['audio_seconds']:.0f}",
                          _fmt(row["wer"].get("habla")), _fmt(row["wer"].get("faster-whisper")), _fmt(row["wer_delta"]),
                          _fmt(row["rtf"].get("habla"), 3), _fmt(row["rtf"].get("faster-whisper"), 3),
                          f"{row['speedup']}×" if row.get("speedup") else "-")
    console.print(table)
    for engine, figs in report["engines"].items():
        console.print(f"{engine}: load {figs['load_seconds']} s, peak RSS {figs['peak_rss_mb']} MB"
                      + (f" (long-form {figs['long_peak_rss_mb']} MB)" if "long_peak_rss_mb" in figs else "")
                      + f", words on silence clips: {report['silence_words'][engine]}")


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
