"""How far a window's mean token log-probability as the word-alignment pass scores it (what a segment cut out of a
window reports, habla/asr/types.py ``Segment``) is from the decoder's own ``avg_logprob`` (Whisper's definition, end
of text counted), over whole clips decoded as one window each; also checks that the words' token ids spell exactly
the decoded tokens.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/bench_segment_logprob.py --clips 20
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from habla.asr.transcriber import Transcriber
from habla.asr.types import words_logprob
from habla.audio.decode import SAMPLE_RATE, decode
from habla.config import load_settings

ROOT = Path(__file__).resolve().parents[1]
SPEECH = Path(os.environ.get("HABLA_TESTDATA", ROOT.parent / "shared" / "testdata")) / "speech"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=20, help="clips per language (ast-en-*, ast-es-*, in name order)")
    args = parser.parse_args()
    transcriber = Transcriber.from_settings(load_settings())
    with transcriber.models.use(transcriber.asr.model) as engine:
        for language in ("en", "es"):
            options = transcriber.default_options(language=language, word_timestamps=True, beam_size=5)
            diffs = []
            for path in sorted(SPEECH.glob(f"ast-{language}-*.flac"))[: args.clips]:
                audio = decode(path)
                seconds = min(len(audio) / SAMPLE_RATE, 30.0)
                (chunk,) = engine.decode_chunks(audio, [(0.0, seconds)], language, options, 0.0)
                if not chunk.words:
                    continue
                tokens, mean = words_logprob(chunk.words)
                assert tokens == chunk.tokens and mean is not None, path.name
                diffs.append(mean - chunk.avg_logprob)
            d = np.array(diffs)
            print(f"{language}: {len(d)} clips, alignment mean - decode avg_logprob: max |diff| "
                  f"{np.abs(d).max():.4f}, median {np.median(d):+.4f}")


if __name__ == "__main__":
    main()
