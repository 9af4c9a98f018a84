"""Collect every pause of `habla bench voice`'s scripted turns with its turn-detection cues (transcript so far,
pitch drop, the chat model's end-of-turn probability), then score the cues: how well each separates a turn's real
end from a pause inside it (ROC AUC), and the premature ends / silence waited that the weights in turn.py give,
per split (tune / held-out). Weights are chosen on `tune` only.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/tune_turn_end.py --speech ../shared/testdata/speech \\
        --json bench-results/turn_cues.json
    .venv/bin/python scripts/tune_turn_end.py --from-json bench-results/turn_cues.json --rescore-model --grid
        # no decoding: the chat model's cue recomputed on the stored transcripts, the weights searched on `tune`
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np

from habla.voice import turn as T


def collect(speech: Path, languages: list[str], complete: int, paused: int, rule: str) -> list[dict[str, Any]]:
    from habla.config import load_settings
    from habla.llm.service import gguf_path
    from habla.llm.turn_end import TurnEndModel
    from habla.models.store import ModelStore
    from habla.voice.bench import build_turns, pause_cues
    from habla.voice.engines import VoiceEngines
    from habla.voice.listener import piece_decoder

    settings = load_settings()
    engines = VoiceEngines.from_settings(settings)
    model = TurnEndModel(gguf_path(ModelStore(settings.models), settings.voice.turn_detection.model))
    rows = []
    for lang in languages:
        turns = build_turns(engines.transcriber, speech, lang, complete, paused, rule=rule)  # type: ignore[arg-type]
        with engines.transcriber.models.use(settings.asr.model) as whisper:
            decode = piece_decoder(whisper, lang)
            for t in turns:
                cues = pause_cues(t, decode, model.probability)
                print(t.language, t.kind, t.clip, [(c.text[-30:], c.final, c.silence_ms,
                                                    c.model_probability and round(c.model_probability, 4))
                                                   for c in cues], flush=True)
                rows.append({"clip": t.clip, "language": lang, "kind": t.kind, "held_out": t.held_out,
                             "cut": t.cut, "speech_end": t.speech_end, "after_sentence_end": t.after_sentence_end,
                             "cues": [dataclasses.asdict(c) for c in cues]})
    return rows


def rescore_model(rows: list[dict[str, Any]]) -> None:
    """The chat model's cue again on the stored transcripts (after a change to habla.llm.turn_end)."""
    from habla.config import load_settings
    from habla.llm.service import gguf_path
    from habla.llm.turn_end import TurnEndModel
    from habla.models.store import ModelStore

    settings = load_settings()
    model = TurnEndModel(gguf_path(ModelStore(settings.models), settings.voice.turn_detection.model))
    for row in rows:
        for cue in row["cues"]:
            cue["model_probability"] = model.probability(cue["text"]) if cue["text"] else None


def auc(pos: list[float], neg: list[float]) -> float | None:
    if not pos or not neg:
        return None
    return float(np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg]))


def probability(cue: dict[str, Any], language: str, pitch: bool, model: bool) -> float:
    return T.end_of_turn_probability(cue["text"], language, cue["pitch_drop"] if pitch else None,
                                     cue["model_probability"] if model else None)


def simulate(rows: list[dict[str, Any]], pitch: bool, model: bool) -> dict[str, Any]:
    """First end per turn with `semantic medium` waits: a pause ends the turn when its silence lasts the wait."""
    detection = T.TurnDetection()
    premature, waited, n = 0, [], 0
    for row in rows:
        for cue in row["cues"]:
            wait = detection.end_silence_ms(probability(cue, row["language"], pitch, model))
            if cue["silence_ms"] >= wait:
                if cue["final"]:
                    waited.append(wait)
                else:
                    premature += 1
                break
        n += 1
    return {"turns": n, "premature": premature, "waited": waited,
            "waited_mean": round(float(np.mean(waited)), 1) if waited else None}


def score(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for split, held in (("tune", False), ("held_out", True)):
        for lang in sorted({r["language"] for r in rows}):
            group = [r for r in rows if r["held_out"] == held and r["language"] == lang]
            cues = [(c, r["language"]) for r in group for c in r["cues"] if c["text"]]
            pos = [(c, lang_) for c, lang_ in cues if c["final"]]
            neg = [(c, lang_) for c, lang_ in cues if not c["final"]]
            entry: dict[str, Any] = {"end_pauses": len(pos), "inner_pauses": len(neg)}
            for name, fn in (("text", lambda c, lg: T.text_completeness(c["text"], lg)),
                             ("text+pitch", lambda c, lg: probability(c, lg, True, False)),
                             ("model", lambda c, lg: c["model_probability"] or 0.0),
                             ("text+pitch+model", lambda c, lg: probability(c, lg, True, True))):
                entry[f"auc_{name}"] = auc([fn(c, lg) for c, lg in pos], [fn(c, lg) for c, lg in neg])
            for kind in ("complete", "paused"):
                sub = [r for r in group if r["kind"] == kind]
                entry[f"{kind}_text+pitch"] = simulate(sub, True, False)
                entry[f"{kind}_text+pitch+model"] = simulate(sub, True, True)
            out[f"{split}_{lang}"] = entry
    return out


def grid(rows: list[dict[str, Any]]) -> list[tuple[int, float, float, float]]:
    """(premature ends, silence waited p50, weight, neutral) on the tuning half, best first."""
    tune = [r for r in rows if not r["held_out"]]
    chosen = T.MODEL_WEIGHT, T.MODEL_NEUTRAL
    found = []
    for weight, neutral in itertools.product((0.5, 0.75, 1.0, 1.5, 2.0, 3.0), (-3.0, -2.5, -2.0, -1.5, -1.0, -0.5, 0.0)):
        T.MODEL_WEIGHT, T.MODEL_NEUTRAL = weight, neutral
        sims = [simulate([r for r in tune if r["kind"] == k], True, True) for k in ("complete", "paused")]
        waited = [w for sim in sims for w in sim["waited"]]
        found.append((sims[0]["premature"] + sims[1]["premature"], float(np.mean(waited)) if waited else 9e9,
                      weight, neutral))
    T.MODEL_WEIGHT, T.MODEL_NEUTRAL = chosen
    return sorted(found)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--speech", type=Path)
    ap.add_argument("--language", default="en,es")
    ap.add_argument("--turns", type=int, default=20)
    ap.add_argument("--paused", type=int, default=20)
    ap.add_argument("--cuts", default="reference")
    ap.add_argument("--json", type=Path, default=Path("bench-results/turn_cues.json"))
    ap.add_argument("--from-json", type=Path)
    ap.add_argument("--rescore-model", action="store_true", help="with --from-json: recompute the chat model's cue")
    ap.add_argument("--grid", action="store_true", help="also search MODEL_WEIGHT/MODEL_NEUTRAL on the tuning half")
    args = ap.parse_args()
    if args.from_json:
        rows = json.loads(args.from_json.read_text())
        if args.rescore_model:
            rescore_model(rows)
            args.from_json.write_text(json.dumps(rows, indent=1))
    else:
        rows = collect(args.speech, args.language.split(","), args.turns, args.paused, args.cuts)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1))
    if args.grid:
        for premature, waited, weight, neutral in grid(rows)[:8]:
            print(f"tune: premature {premature}, silence waited mean {waited:.0f} ms, weight {weight}, "
                  f"neutral {neutral}")
    for name, entry in score(rows).items():
        print(name, {k: (round(v, 3) if isinstance(v, float) else v) for k, v in entry.items() if "auc" in k})
        for k, v in entry.items():
            if isinstance(v, dict):
                print("   ", k, {kk: vv for kk, vv in v.items() if kk != "waited"})


if __name__ == "__main__":
    main()
