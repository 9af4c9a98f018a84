"""WER per language of a CTranslate2 model on held-out clips, through habla's own transcription pipeline:
the figure is what ``habla transcribe --model NAME`` would score, after conversion, not the PyTorch model's."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from habla.asr.wer import word_error_rate
from habla.config import Settings
from habla.finetune.data import Clip


@dataclass(frozen=True)
class LanguageScore:
    language: str
    clips: int
    words: int
    wer: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def score(model_dir: Path, clips: list[Clip], settings: Settings, beam_size: int = 1) -> dict[str, LanguageScore]:
    """Transcribe each clip with its known language (so the score measures words, not language detection)."""
    from habla.asr.transcriber import Transcriber
    from habla.audio.decode import decode

    transcriber = Transcriber.from_settings(settings)
    refs: dict[str, list[str]] = {}
    hyps: dict[str, list[str]] = {}
    try:
        for clip in clips:
            options = transcriber.default_options(language=clip.lang, beam_size=beam_size)
            audio = decode(clip.audio) if not isinstance(clip.audio, Path) else str(clip.audio)
            text = transcriber.transcribe(audio, str(model_dir), options).text
            refs.setdefault(clip.lang, []).append(clip.text)
            hyps.setdefault(clip.lang, []).append(text)
    finally:
        transcriber.models.unload_all()
    out = {}
    for lang in sorted(refs):
        result = word_error_rate(refs[lang], hyps[lang], lang)
        out[lang] = LanguageScore(lang, len(refs[lang]), result.words, round(result.wer, 4))
    return out
