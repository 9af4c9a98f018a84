"""Speed and intelligibility of habla's voices: real-time factor, time to first audio, and the word error rate of
a round trip text → habla TTS → habla ASR (Whisper base) on a dozen sentences per language written for it.

Run it with ``python scripts/bench_tts.py``; the e2e tests hold the round trip to the same sentences.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from habla.asr.transcriber import Transcriber
from habla.asr.wer import WerResult, word_error_rate
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


@dataclass(frozen=True)
class SpeedFigures:
    voice: str
    load_seconds: float
    audio_seconds: float
    rtf: float  # synthesis time / audio time, whole paragraph, best of the repeats
    first_audio_paragraph: float  # seconds from speak() to the first chunk of the paragraph (median)
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


def speed(speaker: Speaker, sentences: tuple[str, ...], options: SpeakOptions, repeats: int = 3) -> SpeedFigures:
    started = time.perf_counter()
    voice = speaker.warm(options)
    load = time.perf_counter() - started
    paragraph = " ".join(sentences)
    rtfs, firsts, audio = [], [], 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        first, audio = None, 0.0
        for chunk in speaker.speak(paragraph, options):
            first = first if first is not None else time.perf_counter() - started
            audio += chunk.duration
        rtfs.append((time.perf_counter() - started) / audio)
        firsts.append(first or 0.0)
    per_sentence = []
    for sentence in sentences:
        started = time.perf_counter()
        run = iter(speaker.speak(sentence, options))
        next(run)
        per_sentence.append(time.perf_counter() - started)
        run.close()  # type: ignore[attr-defined]
    return SpeedFigures(voice.name, load, audio, min(rtfs), statistics.median(firsts),
                        statistics.median(per_sentence))


def _settings_without_clause_split(settings: Settings) -> Settings:
    return settings.model_copy(update={"tts": settings.tts.model_copy(update={"first_clause_chars": 0})})


def main(wer: bool = True, repeats: int = 3) -> None:
    settings = load_settings()
    speaker = Speaker(settings)
    plain = Speaker(_settings_without_clause_split(settings))
    print("speed (2 cores shared; RTF = synthesis time / audio time, lower is faster)")
    print(f"{'voice':<22}{'clause split':>13}{'load s':>8}{'audio s':>9}{'RTF':>7}{'1st audio paragraph':>21}"
          f"{'1st audio sentence':>20}")
    for language in SENTENCES:
        options = speaker.options(language=language)
        for label, spk in (("first clause", speaker), ("off", plain)):
            f = speed(spk, SENTENCES[language], options, repeats)
            print(f"{f.voice:<22}{label:>13}{f.load_seconds:>8.2f}{f.audio_seconds:>9.1f}{f.rtf:>7.3f}"
                  f"{f.first_audio_paragraph * 1000:>18.0f} ms{f.first_audio_sentence * 1000:>17.0f} ms")
    if not wer:
        return
    transcriber = Transcriber(settings)
    print("\nround trip text → habla TTS → habla ASR (Whisper base), 12 sentences each")
    for language, sentences in SENTENCES.items():
        result, _ = round_trip(speaker, transcriber, sentences, language)
        voice = speaker.resolve(speaker.options(language=language)).name
        print(f"{language}  {voice:<22} WER {result.wer:.1%}  ({result.words} words: {result.substitutions} sub, "
              f"{result.deletions} del, {result.insertions} ins)")
