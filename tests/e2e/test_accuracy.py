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


# English passes since the packages a fresh set-up installs on 2026-12-02 (ctranslate2 4.8.5, onnxruntime 1.32.0,
# av 18.1.0, numpy 2.4.6, tokenizers 0.23.3): 1.89 vs 1.72 % (habla vs plain faster-whisper). Spanish depends on the
# CPU: 11.50 vs 11.03 % (within the margin) on 2026-12-02's machine, 12.21 vs 11.03 % on 2026-12-03's AMD EPYC with
# AVX-512, same packages, same file, the same with the code of 8901359 and 1a6b417. habla's batched, re-decoded
# Spanish moves with the CPU's arithmetic, faster-whisper's does not. Issue 13 (Spanish long-form) is open, so
# Spanish is an expected failure that may pass; English must pass.
SPANISH_BELOW_MARGIN = pytest.mark.xfail(strict=False, reason="issue 13: habla's Spanish long-form WER is 0.5-1.2 "
                                         "points above faster-whisper's, depending on the CPU")


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", pytest.param("es", marks=SPANISH_BELOW_MARGIN)])
def test_ordered_long_file_is_no_worse_than_plain_faster_whisper(clips: list[Clip], transcriber, lang: str,
                                                                 tmp_path: Path) -> None:
    built = build_variant(clips, VARIANTS["ordered"], lang, tmp_path, MINUTES, "held-out")
    assert built is not None
    ours = transcriber.transcribe(built.path, options=transcriber.default_options(language=lang)).text
    theirs = plain_faster_whisper_text(built.path, lang)
    habla_wer = 100 * word_error_rate([built.text], [ours], lang).wer
    plain_wer = 100 * word_error_rate([built.text], [theirs], lang).wer
    assert habla_wer <= plain_wer + MARGIN_POINTS, f"habla {habla_wer:.2f} % vs faster-whisper {plain_wer:.2f} %"
