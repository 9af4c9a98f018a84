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


SPANISH_BEHIND = pytest.mark.xfail(
    strict=True, reason="issue 13, open: Spanish is still behind plain faster-whisper on ordered files by more than "
    "the margin (3-min held-out: 11.70 vs 11.14 %; where a chunk is cut moves base's Spanish wording by 1-3 points). "
    "strict: the day it passes, this mark must go")
ENGLISH_BEHIND = pytest.mark.xfail(
    strict=True, reason="issue 13, open: on this file English gives 2.41 vs 1.72 % with ctranslate2 >= 4.7.0 and "
    "2.06 vs 1.72 % with 4.4-4.6 (4.7.0 changed base's encoder output in the last digits; onnxruntime, av and numpy "
    "leave the audio, VAD spans and encoder output bit-identical): two words over the margin. strict: the day it "
    "passes, this mark must go")


@pytest.mark.slow
@pytest.mark.parametrize("lang", [pytest.param("en", marks=ENGLISH_BEHIND), pytest.param("es", marks=SPANISH_BEHIND)])
def test_ordered_long_file_is_no_worse_than_plain_faster_whisper(clips: list[Clip], transcriber, lang: str,
                                                                 tmp_path: Path) -> None:
    built = build_variant(clips, VARIANTS["ordered"], lang, tmp_path, MINUTES, "held-out")
    assert built is not None
    ours = transcriber.transcribe(built.path, options=transcriber.default_options(language=lang)).text
    theirs = plain_faster_whisper_text(built.path, lang)
    habla_wer = 100 * word_error_rate([built.text], [ours], lang).wer
    plain_wer = 100 * word_error_rate([built.text], [theirs], lang).wer
    assert habla_wer <= plain_wer + MARGIN_POINTS, f"habla {habla_wer:.2f} % vs faster-whisper {plain_wer:.2f} %"
