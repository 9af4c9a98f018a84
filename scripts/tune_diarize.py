"""Grid over clustering settings on the tuning conversations only (never the held-out ones): embeddings are
computed once per conversation (cached), then every setting is scored from them, per split and over all.

    .venv/bin/python scripts/tune_diarize.py ahc:0.45:2 ahc:0.5:2 spectral:0.2:2   # method:threshold|pval:min_s
    .venv/bin/python scripts/tune_diarize.py ahc-split:0.45:5:split_neighbours=8   # [:setting=value ...]
    .venv/bin/python scripts/tune_diarize.py --window 1.5 --hop 1.0 ahc:0.5:2       # other embedding windows
    .venv/bin/python scripts/tune_diarize.py --splits tune,voices-tune ahc:0.45:5    # the tuning splits (default)
"""

from __future__ import annotations

import argparse
import pickle
import time
from pathlib import Path

from habla.audio.decode import SAMPLE_RATE
from habla.audio.vad import speech_spans
from habla.config import load_settings
from habla.diarize.corpus import TUNING_SPLITS, Material, conversation_set, tts_synthesizer
from habla.diarize.der import DERResult, diarization_error
from habla.diarize.pipeline import Diarization
from habla.diarize.protocol import SpeakerOptions
from habla.diarize.service import Diarizer


class _Cached:
    """Stands in for the embedder when the embeddings come from the cache."""

    name = "cached"
    dimension = 192


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", nargs="+")
    parser.add_argument("--testdata", type=Path, default=Path("../shared/testdata/speech"))
    parser.add_argument("--cache", type=Path, default=Path("bench-results/diarize-tts"))
    parser.add_argument("--window", type=float, help="embedding window seconds (default: the setting)")
    parser.add_argument("--hop", type=float, help="embedding hop seconds (default: the setting)")
    parser.add_argument("--splits", default=",".join(TUNING_SPLITS),
                        help=f"comma-separated; only tuning splits ({', '.join(TUNING_SPLITS)})")
    args = parser.parse_args()
    splits = args.splits.split(",")
    if not set(splits) <= set(TUNING_SPLITS):
        parser.error(f"tune on tuning splits only ({', '.join(TUNING_SPLITS)})")
    settings = load_settings()
    windows = {"window_seconds": args.window or settings.diarize.window_seconds,
               "hop_seconds": args.hop or settings.diarize.hop_seconds}
    settings.diarize = settings.diarize.model_copy(update=windows)
    material = Material(args.testdata, tts_synthesizer(args.cache))
    conversations = [conv for split in splits for conv in conversation_set(material, split)]
    runs = []
    embed_cpu = embedded_seconds = 0.0
    diarizer = Diarizer.from_settings(settings)
    with diarizer.models.use(settings.diarize.model) as embedder:
        for conv in conversations:
            path = args.cache / f"emb-{windows['window_seconds']}-{windows['hop_seconds']}-{conv.name}.pkl"
            if path.is_file():
                runs.append(pickle.loads(path.read_bytes()))
                continue
            run = Diarization(embedder, settings.diarize)
            spans = speech_spans(conv.audio)
            cpu = time.process_time()
            run.add(conv.audio, spans)
            embed_cpu += time.process_time() - cpu
            embedded_seconds += len(conv.audio) / SAMPLE_RATE
            runs.append((run.regions, run.embeddings))
            path.write_bytes(pickle.dumps(runs[-1]))
    if embedded_seconds:
        print(f"embeddings: {embed_cpu / embedded_seconds:.4f} CPU-s per audio second", flush=True)
    for setting in args.settings:
        method, value, min_seconds, *extra = setting.split(":")
        update: dict[str, object] = {"clustering": method, "min_speaker_seconds": float(min_seconds),
                                     "threshold" if method != "spectral" else "spectral_pval": float(value)}
        # extra settings, e.g. split_min_distance=0.3
        update |= {k: int(v) if v.isdigit() else float(v) for k, v in (item.split("=") for item in extra)}
        tuned = settings.diarize.model_copy(update=update)
        lines = []
        for split in [*splits, "all"] if len(splits) > 1 else splits:
            total, exact, worst, wrong, count = DERResult(0, 0, 0, 0), 0, 0.0, [], 0
            for conv, (regions, embeddings) in zip(conversations, runs):
                if split != "all" and not conv.name.startswith(f"{split}-{conv.speakers}spk"):
                    continue
                run = Diarization(_Cached(), tuned)  # type: ignore[arg-type]
                run.regions, run._embeddings = regions, [embeddings]
                turns = run.turns(SpeakerOptions(max_speakers=tuned.max_speakers))
                score = diarization_error(conv.turns, turns)
                total, worst, count = total + score, max(worst, score.der), count + 1
                found = len({t.speaker for t in turns})
                exact += found == conv.speakers
                if found != conv.speakers and split != "all":
                    wrong.append(f"{conv.name.removeprefix(split + '-')}:{found}")
            lines.append(f"  {split}: DER {total.der:.1%} (confusion {total.confusion / total.reference:.1%}), worst "
                         f"{worst:.1%}, count exact {exact}/{count} {' '.join(wrong)}")
        print(setting, *lines, sep="\n", flush=True)


if __name__ == "__main__":
    main()
