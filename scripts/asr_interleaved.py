"""Speed of habla against plain faster-whisper on the same files, interleaved (A B A B) in one process, so both
see the same machine load; prints each round with the load average. Files: built bench variants (wav + txt).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/asr_interleaved.py FILE.wav [FILE.wav ...]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROUNDS = 2


def main() -> None:
    from faster_whisper import WhisperModel

    from habla.asr.transcriber import Transcriber
    from habla.config import load_settings
    from habla.models.store import ModelStore

    transcriber = Transcriber.from_settings()
    transcriber.warm("base")
    plain = WhisperModel(str(ModelStore(load_settings().models).locate("base").path))  # its defaults, as bench
    for file in sys.argv[1:]:
        lang = "es" if "-es-" in Path(file).name else "en"
        for index in range(ROUNDS):
            started = time.perf_counter()
            transcriber.transcribe(file, "base", transcriber.default_options(language=lang))
            ours = time.perf_counter() - started
            started = time.perf_counter()
            segments, _ = plain.transcribe(file, language=lang)
            "".join(s.text for s in segments)  # the generator decodes only when consumed
            theirs = time.perf_counter() - started
            print(f"{Path(file).stem} round {index}: habla {ours:.1f} s, faster-whisper {theirs:.1f} s, "
                  f"speed-up {theirs / ours:.2f}x, load {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
