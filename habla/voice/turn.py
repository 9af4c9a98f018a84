"""Semantic end-of-turn: at each pause, how likely is it that the user has finished? From what was said (the
transcript so far) and how (the pitch at the end of the speech), the end silence becomes adaptive: short after a
finished sentence, long after "I'd like to book a table for…".

Text: Whisper writes a sentence end (. ? !) after a finished sentence and usually none, or "…" / "-", on speech cut
mid-sentence; and a turn rarely ends on an article, a preposition, a conjunction or an auxiliary. Word lists below are
linguistic knowledge (closed word classes), not fitted to any test data. Past those rules, a logistic regression
(weights in turn_model.py, fitted on the tuning clips only) weighs the transcript's shape, the pitch fall and the chat
model's cue; the end silence then grows continuously as the probability falls (TurnDetection.end_silence_ms).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

import numpy as np

from habla.voice.turn_model import WEIGHTS

TurnDetectionType = Literal["semantic", "silence"]
Eagerness = Literal["low", "medium", "high"]
TYPES: tuple[TurnDetectionType, ...] = ("semantic", "silence")
EAGERNESS: tuple[Eagerness, ...] = ("low", "medium", "high")
# How each eagerness scales the (short, long) waits of `medium`.
EAGERNESS_SCALE: dict[Eagerness, tuple[float, float]] = {"low": (1.5, 4 / 3), "medium": (1.0, 1.0),
                                                         "high": (0.75, 2 / 3)}

# Closed-class words a turn does not end on (accents stripped, lowercase).
def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_NOT_FINAL = {
    "en": _words("""a an the to of for from with without in into on onto at by about as than and or but nor so because
        if unless while whereas although though since until till whether my your his her our their its some any every
        each no either neither which whose whom who where when is are was were be been being am have has had do does
        did will would shall should can could may might must not very more most less least just also really quite
        i we he she they me us them let's im i'm i'd i'll we're you're they're it's there's that's what's
        like such this these those"""),
    "es": _words("""el la los las un una unos unas lo al del de a en con sin por para hacia hasta desde sobre entre
        tras segun y e o u ni pero sino que porque pues aunque si como cuando mientras donde cual cuales cuyo cuya
        mi mis tu tus su sus nuestro nuestra nuestros nuestras vuestro vuestra es son era eran fue ser estar esta
        estan estoy estamos he has ha hemos han habia hay se me te le les nos muy mas menos tan tanto cada algun
        alguna ningun ninguna otro otra otros otras este esta estos estas ese esa esos esas aquel aquella quiero
        quisiera puedo puede voy vamos"""),
}
_SENTENCE_END = re.compile(r"[.!?¿¡…。！？]['\"”’)\]]*$")
_UNFINISHED_END = re.compile(r"(\.\.\.|…|[-–—,;:])['\"”’)\]]*$")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)

# Probabilities per case; how they were chosen: docs/talk.md (semantic end-of-turn).
P_NO_TEXT = 0.0
P_UNFINISHED_MARK = 0.05  # "…", "-", "," at the end
P_CLOSED_CLASS = 0.05  # ends on an article, preposition, conjunction...
P_NO_SENTENCE_END = 0.2  # a content word without a full stop: Whisper's mark for speech that stopped mid-way
P_QUESTION = 0.95
P_STATEMENT = 0.85
P_ONE_WORD = 0.5  # "Thanks." is a turn, "Press." is a cut


@dataclass(frozen=True)
class TurnDetection:
    """One session's turn detection, OpenAI Realtime style."""

    type: TurnDetectionType = "semantic"
    eagerness: Eagerness = "medium"
    short_silence_ms: int = 300
    long_silence_ms: int = 1500
    threshold: float = 0.6
    unsure_threshold: float = 0.2
    model: str = "smollm2-135m"  # chat model of the end-of-turn cue ("" = none)

    def end_silence_ms(self, probability: float) -> int:
        """Silence after which a turn with this end-of-turn probability is over: the short silence at or above
        ``threshold``, the long one at or below ``unsure_threshold``, growing geometrically between them (an
        uncertain end waits longer than a sure one, a speaker's own pause after a finished sentence included)."""
        short_scale, long_scale = EAGERNESS_SCALE[self.eagerness]
        short = self.short_silence_ms * short_scale
        long = max(self.long_silence_ms * long_scale, short)
        span = max(self.threshold - self.unsure_threshold, 1e-9)
        doubt = min(max((self.threshold - probability) / span, 0.0), 1.0)
        return round(short * (long / short) ** doubt)

    @property
    def max_silence_ms(self) -> int:
        return self.end_silence_ms(0.0)


def _plain(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word.lower().replace("’", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def text_completeness(text: str, language: str) -> float:
    """Probability that a turn whose transcript so far is ``text`` is finished (0-1)."""
    text = text.strip()
    words = _WORD.findall(text)
    if not words:
        return P_NO_TEXT
    if _UNFINISHED_END.search(text):
        return P_UNFINISHED_MARK
    if _plain(words[-1]) in _NOT_FINAL.get(language.split("-")[0].lower(), frozenset()):
        return P_CLOSED_CLASS
    if not _SENTENCE_END.search(text):
        return P_NO_SENTENCE_END
    if text.endswith(("?", "？")):
        return P_QUESTION
    return P_ONE_WORD if len(words) == 1 else P_STATEMENT


PITCH_FRAME = 640  # 40 ms at 16 kHz: two periods of a 50 Hz voice
PITCH_HOP = 160
PITCH_RANGE_HZ = (70.0, 400.0)
PITCH_CLARITY = 0.5  # normalised autocorrelation peak below this: unvoiced frame
PITCH_OCTAVE_MARGIN = 0.9  # a lag within this share of the best peak's correlation is preferred if shorter


def pitch_track(audio: np.ndarray, rate: int = 16000) -> np.ndarray:
    """F0 in Hz per 10 ms frame by normalised autocorrelation (0 = unvoiced). ~2 ms per second of audio."""
    if len(audio) < PITCH_FRAME:
        return np.zeros(0)
    frames = np.lib.stride_tricks.sliding_window_view(audio.astype(np.float64), PITCH_FRAME)[::PITCH_HOP]
    frames = frames - frames.mean(axis=1, keepdims=True)
    spectrum = np.fft.rfft(frames, n=2 * PITCH_FRAME)
    corr = np.fft.irfft(np.abs(spectrum) ** 2)[:, :PITCH_FRAME]
    lo, hi = int(rate / PITCH_RANGE_HZ[1]), int(rate / PITCH_RANGE_HZ[0])
    energy = np.maximum(corr[:, 0], 1e-12)
    lags = np.arange(lo, hi)
    norm = corr[:, lo:hi] / energy[:, None] * PITCH_FRAME / (PITCH_FRAME - lags)[None, :]
    # The shortest lag near the best peak: a multiple of the period correlates as well (octave errors).
    peak = norm.max(axis=1, keepdims=True)
    first = (norm >= PITCH_OCTAVE_MARGIN * peak).argmax(axis=1)
    rows = np.arange(len(norm))
    span = np.minimum(first[:, None] + np.arange(lo)[None, :], norm.shape[1] - 1)
    best = span[rows, norm[rows[:, None], span].argmax(axis=1)]
    clarity = norm[rows, best]
    loud = energy > energy.max() * 1e-3
    return np.where((clarity >= PITCH_CLARITY) & loud, rate / (best + lo), 0.0)


def final_pitch_drop(turn_audio: np.ndarray, rate: int = 16000, tail_seconds: float = 0.3) -> float | None:
    """How far the voice's pitch at the end of the speech lies below its median over the last 4 s, in semitones
    (positive = it fell: a statement's end; near 0 or negative: speech that goes on). None without enough voice."""
    f0 = pitch_track(turn_audio[-4 * rate:], rate)
    voiced = f0[f0 > 0]
    tail = f0[-int(tail_seconds * rate / PITCH_HOP):]
    tail = tail[tail > 0]
    if len(voiced) < 20 or len(tail) < 3:
        return None
    return float(12 * np.log2(np.median(voiced) / np.median(tail)))


FEATURES = ("sentence_end", "question", "one_word", "log_words", "sentences", "pitch_drop", "no_pitch",
            "purpose_before_last", "spanish", "log_model", "no_model", "log_model_es")
MODEL_FEATURES = ("log_model", "no_model", "log_model_es")  # left out when the chat model gives no cue
# A purpose clause opened just before the last word ("press 1 to accept ‖ this call", "para obtener ‖ …"): its verb
# usually takes an object. Chosen on the tuning half's pauses (scripts/tune_turn_end.py, 2026-12-02): with "to" /
# "para" as the word before the last, 17 pauses inside a turn against 3 ends; articles there ("the", "la") split
# 18 to 17 and tell nothing.
_PURPOSE = {"en": frozenset({"to"}), "es": frozenset({"para"})}
PITCH_CLIP = (-6.0, 12.0)  # semitones; a drop outside this is a pitch-tracking error, not intonation
MODEL_FLOOR = -6.0  # log10 of the chat model's probability; lower tells nothing more


def turn_features(text: str, pitch_drop: float | None, model_probability: float | None,
                  language: str = "en") -> np.ndarray:
    """The classifier's inputs (FEATURES) at one pause, for a transcript that does not end on an unfinished mark or a
    closed-class word (those stay unfinished whatever else: text_completeness). The chat model's cue has a second,
    Spanish-only copy: it separates ends from pauses less well in Spanish (docs/talk.md), so it gets its own weight."""
    text = text.strip()
    words = _WORD.findall(text)
    lang = language.split("-")[0].lower()
    marks = len(re.findall(r"[.!?¿¡…。！？]+(?=\s|$)", text))
    drop = float(np.clip(pitch_drop, *PITCH_CLIP)) if pitch_drop is not None else 0.0
    log_model = max(float(np.log10(max(model_probability, 1e-12))), MODEL_FLOOR) if model_probability else 0.0
    purpose = len(words) > 1 and _plain(words[-2]) in _PURPOSE.get(lang, frozenset())
    spanish = lang == "es"
    return np.array([bool(_SENTENCE_END.search(text)), text.endswith(("?", "？")), len(words) == 1,
                     np.log1p(len(words)), marks, drop, pitch_drop is None, purpose, spanish,
                     log_model, not model_probability, log_model if spanish else 0.0],
                    dtype=np.float64)


def classifier_probability(features: np.ndarray, with_model: bool) -> float:
    """The shipped logistic regression (habla/voice/turn_model.py, trained by scripts/tune_turn_end.py --train on
    the tuning half of `habla bench voice`'s pauses)."""
    w = WEIGHTS["text+pitch+model" if with_model else "text+pitch"]
    x = (features - np.asarray(w["mean"])) / np.asarray(w["scale"])
    x = x[[FEATURES.index(f) for f in w["features"]]]
    logit = float(np.dot(np.asarray(w["coef"]), x) + float(w["intercept"]))
    return float(1 / (1 + np.exp(-logit)))


def end_of_turn_probability(text: str, language: str, pitch_drop: float | None,
                            model_probability: float | None = None) -> float:
    """What was said and how: a logistic regression over the transcript's shape, how far the pitch fell at the end
    and the chat model's probability of ending its user turn there (``model_probability``, habla.llm.turn_end). An
    unfinished mark or a closed-class last word stays unfinished whatever the other cues ("…press the", with a
    fall)."""
    p = text_completeness(text, language)
    if p <= P_CLOSED_CLASS:
        return p
    features = turn_features(text, pitch_drop, model_probability, language)
    return classifier_probability(features, model_probability is not None)
