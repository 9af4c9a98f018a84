"""``habla bench DIR``: WER, speed, load time and memory of habla next to plain faster-whisper."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from habla.errors import HablaError

console = Console()


def bench(
    folder: Path = typer.Argument(..., help="Folder with audio files and manifest.tsv (id, lang, seconds, text)."),
    model: str = typer.Option("base", "--model", "-m"),
    long_minutes: float = typer.Option(10.0, "--long-minutes", help="Length of the joined long-form file per language; 0 skips it."),
    compare: bool = typer.Option(True, "--compare/--no-compare", help="Also run plain faster-whisper with its defaults."),
    json_path: Path = typer.Option(Path("bench-results/bench.json"), "--json", help="Where the JSON report goes."),
) -> None:
    """Benchmark transcription accuracy and speed on a folder of clips with references."""
    from habla.asr.bench import benchmark, write_report
    from habla.cli.main import fail

    try:
        report = benchmark(folder, model, long_minutes, compare, json_path.parent,
                           on_step=lambda msg: console.print(f"[dim]{msg}[/]"))
    except HablaError as exc:
        raise fail(exc) from None
    write_report(report, json_path)
    _print(report)
    console.print(f"report: {json_path}")


def _print(report: dict) -> None:
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


def _fmt(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
