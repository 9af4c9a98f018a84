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
import importlib
import itertools
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from habla.voice import turn as T

# Inverse L2 strength of the logistic regression: sklearn's default; not tuned (a few hundred pauses).
C_REGULARIZATION = 1.0


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


def generate(speech: Path, languages: list[str], long_clips: bool = False) -> list[dict[str, Any]]:
    """Many more examples than the bench's turns, from the tuning half's clips only: each clip whole (its end is a
    turn end, its own pauses are not) and cut at every word boundary, followed by silence (the pause at the cut is
    not a turn end: the speaker was going on). Each prefix is decoded as the listener decodes it, so Whisper's habit
    of writing a full stop after cut speech is in the examples. ``long_clips``: the tuning clips over 8 s instead
    (no bench turn uses them), cut only in their first LONG_CUT_SECONDS (a prefix's decoding grows with its length):
    menus of "press 1 to …, 2 to …" whose pauses after a comma or a full stop are not ends."""
    from habla.asr.bench import read_manifest
    from habla.audio.decode import SAMPLE_RATE, decode
    from habla.config import load_settings
    from habla.llm.service import gguf_path
    from habla.llm.turn_end import TurnEndModel
    from habla.models.store import ModelStore
    from habla.voice.bench import ScriptedTurn, last_voiced, pause_cues
    from habla.voice.engines import VoiceEngines
    from habla.voice.listener import piece_decoder

    settings = load_settings()
    engines = VoiceEngines.from_settings(settings)
    model = TurnEndModel(gguf_path(ModelStore(settings.models), settings.voice.turn_detection.model))
    transcriber = engines.transcriber
    rows = []
    for clip in read_manifest(speech):
        turn0 = ScriptedTurn(clip.id, clip.lang, np.zeros(0, np.float32), 0)
        short = 1.0 < clip.seconds <= 8.0
        if clip.lang not in languages or not clip.text.strip() or turn0.held_out or short == long_clips \
                or clip.seconds <= 1.0:
            continue
        audio = decode(clip.path)
        options = transcriber.default_options(language=clip.lang, word_timestamps=True, vad=False)
        words = [w for seg in transcriber.transcribe(audio, options=options).segments for w in seg.words]
        cuts = [int((a.end + b.start) / 2 * SAMPLE_RATE) for a, b in itertools.pairwise(words)
                if not long_clips or b.start < LONG_CUT_SECONDS]
        with transcriber.models.use(settings.asr.model) as whisper:
            decode_piece = piece_decoder(whisper, clip.lang)
            for cut in [*cuts, len(audio)]:
                piece = audio[:cut]
                turn = ScriptedTurn(clip.id, clip.lang, piece, last_voiced(piece))
                cues = pause_cues(turn, decode_piece, model.probability)
                if cut < len(audio):  # only the pause at the cut: the earlier ones come with the whole clip
                    cues = [replace(c, final=False) for c in cues[-1:]]
                print(clip.id, cut / SAMPLE_RATE, [(c.text[-30:], c.final, c.silence_ms) for c in cues], flush=True)
                rows.append({"clip": clip.id, "language": clip.lang, "kind": "prefix" if cut < len(audio) else "whole",
                             "held_out": False, "cues": [dataclasses.asdict(c) for c in cues]})
    return rows


LONG_CUT_SECONDS = 12.0  # ~25 cuts per long clip; all nine long tuning clips decode in minutes on 2 loaded cores


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


def simulate(rows: list[dict[str, Any]], pitch: bool, model: bool,
             detection: T.TurnDetection | None = None) -> dict[str, Any]:
    """First end per turn with `semantic medium` waits: a pause ends the turn when its silence lasts the wait."""
    detection = detection or T.TurnDetection()
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
            "waited_p50": round(float(np.median(waited)), 1) if waited else None}


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


def examples(rows: list[dict[str, Any]], held_out: bool) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels (1 = the turn's real end) of the pauses the classifier decides: a transcript that does not
    end on an unfinished mark or a closed-class word."""
    xs, ys = [], []
    for row in rows:
        if row["held_out"] != held_out:
            continue
        for cue in row["cues"]:
            if cue["text"] and T.text_completeness(cue["text"], row["language"]) > T.P_CLOSED_CLASS:
                xs.append(T.turn_features(cue["text"], cue["pitch_drop"], cue["model_probability"],
                                          row["language"]))
                ys.append(int(cue["final"]))
    return np.array(xs), np.array(ys)


def drop_sentence_cuts(rows: list[dict[str, Any]], speech: Path) -> list[dict[str, Any]]:
    """The generated prefixes without those cut after a sentence of the reference ("Your call is now first in
    line. ‖"): a user may well stop there, so "not an end" is no fact about them (the bench's mid-sentence pauses are
    never there)."""
    from habla.asr.bench import read_manifest
    from habla.voice.bench import ends_sentence

    reference = {c.id: c.text for c in read_manifest(speech)}
    kept = []
    for row in rows:
        cue = row["cues"][-1] if row["cues"] else None
        words = cue["text"].split() if cue else []
        if row["kind"] == "prefix" and words and ends_sentence(words, len(words) - 1, reference[row["clip"]],
                                                                row["language"]):
            continue
        kept.append(row)
    return kept


def train(rows: list[dict[str, Any]], out: Path, without: tuple[str, ...] = ()) -> None:
    """Fit the logistic regressions (with and without the chat model's cue) on the tuning half; write them.
    ``without``: features left out (to compare feature sets)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x, y = examples(rows, held_out=False)
    weights: dict[str, Any] = {}
    used = tuple(f for f in T.FEATURES if f not in without)
    for name, names in (("text+pitch+model", used),
                        ("text+pitch", tuple(f for f in used if f not in T.MODEL_FEATURES))):
        cols = [T.FEATURES.index(f) for f in names]
        scaler = StandardScaler().fit(x)
        fit = LogisticRegression(C=C_REGULARIZATION).fit(scaler.transform(x)[:, cols], y)
        weights[name] = {"features": list(names), "mean": [round(v, 5) for v in scaler.mean_],
                         "scale": [round(v, 5) for v in scaler.scale_],
                         "coef": [round(float(v), 5) for v in fit.coef_[0]],
                         "intercept": round(float(fit.intercept_[0]), 5)}
    out.write_text(MODEL_MODULE.format(n=len(y), ends=int(y.sum()), weights=json.dumps(weights, indent=4)))


MODEL_MODULE = '''"""End-of-turn classifier weights, written by `scripts/tune_turn_end.py --train` (do not edit).

Logistic regressions over habla.voice.turn.FEATURES, fitted on {n} pauses ({ends} of them a turn's end) of the
tuning half only (clips whose crc32 is odd): every pause of `habla bench voice`'s tuning turns, and every word
boundary of the tuning clips (--generated). Standardised inputs ((x - mean) / scale, over all FEATURES);
"text+pitch" drops the chat model's features (MODEL_FEATURES)."""

from __future__ import annotations

from typing import Any

WEIGHTS: dict[str, dict[str, Any]] = {weights}
'''
SHORT_SILENCES_MS = (200, 250, 300, 350, 400, 450)


def grid(rows: list[dict[str, Any]]) -> list[tuple[int, float, int, float, float]]:
    """(premature ends, silence waited p50 on complete turns, short silence, threshold, unsure threshold) on the
    tuning half, best first."""
    tune = [r for r in rows if not r["held_out"]]
    found = []
    for short, threshold, unsure in itertools.product(SHORT_SILENCES_MS, (0.5, 0.6, 0.7, 0.8, 0.9, 0.95),
                                                      (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)):
        if unsure >= threshold:
            continue
        detection = T.TurnDetection(short_silence_ms=short, threshold=threshold, unsure_threshold=unsure)
        sims = [simulate([r for r in tune if r["kind"] == k], True, True, detection) for k in ("complete", "paused")]
        found.append((sims[0]["premature"] + sims[1]["premature"],
                      float(np.median(sims[0]["waited"])) if sims[0]["waited"] else 9e9, short, threshold, unsure))
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
    ap.add_argument("--train", action="store_true",
                    help="fit the classifier on the tuning half (habla/voice/turn_model.py)")
    ap.add_argument("--generated", type=Path, help="with --train: word-boundary examples of the tuning clips "
                    "(made with --speech if the file does not exist) added to the bench's tuning pauses")
    ap.add_argument("--generated-long", type=Path, help="with --train: the same from the long tuning clips (> 8 s)")
    ap.add_argument("--drop-sentence-cuts", action="store_true", help="with --train and --speech: leave out the "
                    "generated prefixes cut after a sentence of the reference")
    ap.add_argument("--without", default="", help="with --train: features to leave out, comma-separated")
    ap.add_argument("--grid", action="store_true", help="also search the two thresholds on the tuning half")
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
    if args.train:
        extra: list[dict[str, Any]] = []
        if args.generated:
            if not args.generated.exists():
                args.generated.write_text(json.dumps(generate(args.speech, args.language.split(",")), indent=1))
            extra = json.loads(args.generated.read_text())
        if args.generated_long:
            if not args.generated_long.exists():
                args.generated_long.write_text(json.dumps(generate(args.speech, args.language.split(","), True),
                                                          indent=1))
            extra += json.loads(args.generated_long.read_text())
        if args.drop_sentence_cuts:
            before = len(extra)
            extra = drop_sentence_cuts(extra, args.speech)
            print(f"generated examples: {before}, {before - len(extra)} cut after a reference sentence dropped")
        train(rows + extra, Path(T.__file__).with_name("turn_model.py"), tuple(args.without.split(",")))
        importlib.reload(importlib.import_module("habla.voice.turn_model"))
    if args.grid:
        found = grid(rows)
        for short in SHORT_SILENCES_MS:  # the best few of each short silence
            for premature, waited, _, threshold, unsure in [f for f in found if f[2] == short][:3]:
                print(f"tune: short {short} ms, threshold {threshold}, unsure threshold {unsure}: premature "
                      f"{premature}, silence waited p50 {waited:.0f} ms (complete turns)")
    for name, entry in score(rows).items():
        print(name, {k: (round(v, 3) if isinstance(v, float) else v) for k, v in entry.items() if "auc" in k})
        for k, v in entry.items():
            if isinstance(v, dict):
                print("   ", k, {kk: vv for kk, vv in v.items() if kk != "waited"})


if __name__ == "__main__":
    main()
