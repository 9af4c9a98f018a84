"""Speed and intelligibility of habla's voices: real-time factor, time to first audio, and the word error rate of
a round trip text → habla TTS → habla ASR (Whisper base) on a dozen sentences per language written for it.

Run it with ``python scripts/bench_tts.py``; the e2e tests hold the round trip to the same sentences.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path

from habla.asr.transcriber import Transcriber
from habla.asr.wer import WerResult, word_error_rate
from habla.audio.manifest import read_manifest_rows
from habla.config import Settings, load_settings
from habla.tts.encode import encode_stream
from habla.tts.speaker import SpeakOptions, Speaker

ENGLISH = (
    "The little boat drifted slowly across the quiet lake.",
    "Please remember to water the plants before you leave.",
    "My brother bought a new bicycle for his birthday.",
    "We walked along the beach and collected shells.",
    "She is reading a book about the history of music.",
    "The train was late because of the heavy snow.",
    "Could you pass me the salt and pepper, please?",
    "Our friends are painting their house bright yellow.",
    "The children laughed at the funny clown in the park.",
    "He forgot his umbrella and got wet in the rain.",
    "A cup of hot tea is perfect on a cold evening.",
    "The farmer fed the horses early this morning.",
)
# Held out: espeak-ng's rate and word gap were tuned on other sentences.
SPANISH = (
    "La panadería de la esquina abre muy temprano.",
    "Mis amigos viajaron a la costa en autobús.",
    "Esta tarde voy a limpiar la cocina y el jardín.",
    "El profesor explicó la lección con mucha paciencia.",
    "Siempre bebo un vaso de agua antes de dormir.",
    "La película empezó tarde porque se fue la luz.",
    "Mi abuela cuenta historias muy divertidas.",
    "Los pájaros cantan en los árboles al amanecer.",
    "¿Sabes dónde está la farmacia más cercana?",
    "Vamos a cenar pescado con arroz esta noche.",
    "El río pasa por el centro de la ciudad.",
    "Guarda los libros en la estantería, por favor.",
)
SENTENCES = {"en": ENGLISH, "es": SPANISH}


# Replies as an assistant would give them: the first sentence is long and has clauses, so the first-clause cut
# decides how soon audio starts.
REPLIES = {
    "en": ("Well, the quickest way to the station is through the park and then left at the bakery. "
           "It takes about ten minutes on foot. If it rains, take the number five bus instead."),
    "es": ("Bueno, el camino más corto a la estación pasa por el parque y luego a la izquierda en la panadería. "
           "Son unos diez minutos a pie. Si llueve, toma el autobús número cinco."),
}


@dataclass(frozen=True)
class SpeedFigures:
    voice: str
    load_seconds: float
    audio_seconds: float
    rtf: float  # synthesis time / audio time, whole paragraph, best of the repeats
    first_audio_reply: float  # seconds from speak() to the first chunk of a reply (median)
    first_audio_sentence: float  # median over single sentences


def synthesize_wav16k(speaker: Speaker, text: str, options: SpeakOptions) -> bytes:
    """Speech as a 16 kHz WAV, the rate Whisper works at."""
    return b"".join(encode_stream(speaker.speak(text, options), "wav", 16000))


def round_trip(speaker: Speaker, transcriber: Transcriber, sentences: tuple[str, ...] | list[str],
               language: str, voice: str | None = None) -> tuple[WerResult, list[str]]:
    """Speak every sentence, transcribe it back, and score the transcripts against the text."""
    options = speaker.options(voice=voice, language=None if voice else language)
    asr_options = transcriber.default_options(language=language)
    hypotheses = [transcriber.transcribe(synthesize_wav16k(speaker, s, options), options=asr_options).text
                  for s in sentences]
    return word_error_rate(list(sentences), hypotheses, language), hypotheses


def _first_audio(speaker: Speaker, text: str, options: SpeakOptions) -> float:
    started = time.perf_counter()
    run = speaker.speak(text, options)
    next(iter(run))
    elapsed = time.perf_counter() - started
    run.close()
    return elapsed


def speed(speaker: Speaker, sentences: tuple[str, ...], reply: str, options: SpeakOptions,
          repeats: int = 3) -> SpeedFigures:
    started = time.perf_counter()
    voice = speaker.warm(options)
    load = time.perf_counter() - started
    paragraph = " ".join(sentences)
    rtfs, audio = [], 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        audio = sum(chunk.duration for chunk in speaker.speak(paragraph, options))
        rtfs.append((time.perf_counter() - started) / audio)
    replies = [_first_audio(speaker, reply, options) for _ in range(max(repeats, 5))]
    per_sentence = [_first_audio(speaker, sentence, options) for sentence in sentences]
    return SpeedFigures(voice.name, load, audio, min(rtfs), statistics.median(replies),
                        statistics.median(per_sentence))


def _variant(settings: Settings, **tts: object) -> Settings:
    return settings.model_copy(update={"tts": settings.tts.model_copy(update=tts)})


def speed_table(settings: Settings, repeats: int, threads: list[int]) -> None:
    print("speed (RTF = synthesis time / audio time, lower is faster; first audio = speak() to first chunk)")
    print(f"{'voice':<20}{'threads':>8}{'clause cut':>11}{'load s':>8}{'audio s':>9}{'RTF':>7}"
          f"{'1st audio reply':>17}{'1st audio sentence':>20}")
    cut = settings.tts.first_clause_chars
    for language in SENTENCES:
        options = Speaker.from_settings(settings).options(language=language)
        piper = Speaker.from_settings(settings).resolve(options).engine == "piper"
        for n in threads if piper else [settings.tts.threads]:
            for clause in (cut, 0):
                spk = Speaker.from_settings(_variant(settings, threads=n, first_clause_chars=clause))
                f = speed(spk, SENTENCES[language], REPLIES[language], options, repeats)
                print(f"{f.voice:<20}{n if piper else '-':>8}{clause or 'off':>11}{f.load_seconds:>8.2f}"
                      f"{f.audio_seconds:>9.1f}{f.rtf:>7.3f}{f.first_audio_reply * 1000:>14.0f} ms"
                      f"{f.first_audio_sentence * 1000:>17.0f} ms")
                spk.engines.unload_all()


def tuning_texts(folder: Path, language: str, limit: int = 16) -> list[str]:
    """Short texts of a folder of clips (its manifest.tsv: the test corpus's speech), kept apart from the sentences
    above."""
    return [r.text for r in read_manifest_rows(folder) if r.lang == language and 20 <= len(r.text) <= 90][:limit]


def espeak_grid(settings: Settings, transcriber: Transcriber, speech: Path, language: str = "es") -> None:
    """Word error rate of espeak-ng settings on tuning texts (``speech``: a folder of clips with manifest.tsv): which
    rate, word gap and voice variant Whisper understands best."""
    texts = tuning_texts(speech, language)
    asr_options = transcriber.default_options(language=language)
    base = Speaker.from_settings(settings).resolve(SpeakOptions(language=language))
    print(f"\nespeak-ng {language} on {len(texts)} tuning texts (WER through Whisper base)")
    for model, rate, gap in ((base.model, 175, 0), (base.model, 160, 4), (base.model, 130, 4),
                             (base.model, 145, 2), (base.model, 160, 8), (f"{base.model}+m3", 160, 4),
                             (f"{base.model}+klatt", 160, 4), ("es-419", 160, 4)):
        spk = Speaker.from_settings(_variant(settings, espeak_rate=rate, espeak_word_gap=gap))
        voice = replace(base, model=model)
        hypotheses = [transcriber.transcribe(b"".join(encode_stream(spk.speak_sentences([t], voice), "wav", 16000)),
                                             options=asr_options).text for t in texts]
        result = word_error_rate(texts, hypotheses, language)
        print(f"  voice {model:<10} rate {rate:>3} wpm  word gap {gap * 10:>3} ms  WER {result.wer:.1%}")


def main(wer: bool = True, repeats: int = 3, threads: list[int] | None = None, grid: Path | None = None) -> None:
    """The speed table; with ``wer`` the round trip; with ``grid`` (a folder of clips with manifest.tsv) the espeak-ng
    grid."""
    settings = load_settings()
    speed_table(settings, repeats, threads or sorted({1, os.cpu_count() or 1}))
    if not (wer or grid):
        return
    speaker = Speaker.from_settings(settings)
    transcriber = Transcriber.from_settings(settings)
    if wer:
        print("\nround trip text → habla TTS → habla ASR (Whisper base), 12 sentences each")
        for language, sentences in SENTENCES.items():
            result, _ = round_trip(speaker, transcriber, sentences, language)
            voice = speaker.resolve(speaker.options(language=language)).name
            print(f"{language}  {voice:<22} WER {result.wer:.1%}  ({result.words} words: {result.substitutions} sub, "
                  f"{result.deletions} del, {result.insertions} ins)")
    if grid is not None:
        espeak_grid(settings, transcriber, grid)
