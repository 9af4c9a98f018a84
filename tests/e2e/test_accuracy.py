"""habla's long-form accuracy against plain faster-whisper, on files built the way issue 13 found habla worse:
the test clips in manifest order, fixed 0.7 s pauses (similar consecutive phrases, as phone menus have)."""

from __future__ import annotations

from pathlib import Path

import pytest

from habla.asr.bench import VARIANTS, Clip, build_variant
from habla.asr.wer import word_error_rate

MINUTES = 4.0  # eight or more 30 s chunks: long enough for prompts to carry over, short enough for 2 cores
MARGIN_POINTS = 0.5


def plain_faster_whisper_text(path: Path, lang: str) -> str:
    from faster_whisper import WhisperModel

    from habla.config import load_settings
    from habla.models.store import ModelStore

    model = WhisperModel(str(ModelStore(load_settings().models).locate("base").path))  # its defaults, as bench
    segments, _ = model.transcribe(str(path), language=lang)
    return " ".join(s.text.strip() for s in segments)


# Both pass since the packages a fresh set-up installs on 2026-12-02 (ctranslate2 4.8.5, onnxruntime 1.32.0, av 18.1.0,
# numpy 2.4.6, tokenizers 0.23.3): English 1.89 vs 1.72 %, Spanish 11.50 vs 11.03 % (habla vs plain faster-whisper;
# the same figures with the adapter of 37e66f5, so a package moved them, not habla). Until then both were strict
# xfails (English 2.41 vs 1.72 %, Spanish 11.70 vs 11.14 % on the 3-min file).


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", "es"])
def test_ordered_long_file_is_no_worse_than_plain_faster_whisper(clips: list[Clip], transcriber, lang: str,
                                                                 tmp_path: Path) -> None:
    built = build_variant(clips, VARIANTS["ordered"], lang, tmp_path, MINUTES, "held-out")
    assert built is not None
    ours = transcriber.transcribe(built.path, options=transcriber.default_options(language=lang)).text
    theirs = plain_faster_whisper_text(built.path, lang)
    habla_wer = 100 * word_error_rate([built.text], [ours], lang).wer
    plain_wer = 100 * word_error_rate([built.text], [theirs], lang).wer
    assert habla_wer <= plain_wer + MARGIN_POINTS, f"habla {habla_wer:.2f} % vs faster-whisper {plain_wer:.2f} %"
