"""The fine-tune report: ``report.json`` (everything), ``report.md`` (for people) and ``loss.png``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Report:
    model: str
    base: str
    data_dir: str
    train_clips: int
    validation_clips: int
    train_seconds: float
    validation_seconds: float
    steps: int
    seconds: float
    options: dict[str, Any]
    loss: list[tuple[int, float]] = field(default_factory=list)  # (step, training loss)
    wer_before: dict[str, dict[str, Any]] = field(default_factory=dict)
    wer_after: dict[str, dict[str, Any]] = field(default_factory=dict)
    resumed_from: str | None = None
    registered: dict[str, str] = field(default_factory=dict)  # model name → folder


def _plot_loss(loss: list[tuple[int, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: write the file only
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot([s for s, _ in loss], [v for _, v in loss], marker="o", markersize=3)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title("habla finetune: training loss")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _markdown(r: Report) -> str:
    lines = [f"# Fine-tune report: {r.model}", "",
             f"- base model: `{r.base}`; data: `{r.data_dir}`",
             (f"- train: {r.train_clips} clips, {r.train_seconds / 60:.1f} min; "
              f"validation: {r.validation_clips} clips, {r.validation_seconds / 60:.1f} min"),
             f"- steps: {r.steps} in {r.seconds / 60:.1f} min" + (f" (resumed from {r.resumed_from})"
                                                                  if r.resumed_from else ""),
             f"- registered: {', '.join(f'`{n}`' for n in r.registered)}", "",
             "| language | clips | words | WER before | WER after |", "|---|---|---|---|---|"]
    for lang in sorted(set(r.wer_before) | set(r.wer_after)):
        before, after = r.wer_before.get(lang, {}), r.wer_after.get(lang, {})
        lines.append(f"| {lang} | {after.get('clips', before.get('clips', 0))} | {after.get('words', 0)} | "
                     f"{before.get('wer', float('nan')):.1%} | {after.get('wer', float('nan')):.1%} |")
    lines += ["", "![training loss](loss.png)", "", ("WER on the validation split, transcribed through habla's "
              "pipeline (CTranslate2, the clip's language given, greedy decoding)."), ""]
    return "\n".join(lines)


def write(report: Report, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(asdict(report), indent=2) + "\n")
    if report.loss:
        _plot_loss(report.loss, folder / "loss.png")
    (folder / "report.md").write_text(_markdown(report))
    return folder / "report.json"
