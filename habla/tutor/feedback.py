"""Feedback on one learner turn: grammar and word-choice corrections from the LLM, pronunciation hints from the ASR.

The LLM is asked for one thing only: the learner's sentence with its mistakes fixed. The corrections are then the
word-level differences between the two, computed here. A weak model (the embedded 270M) that echoes the sentence
yields no corrections; one that rambles, answers the question or switches language is rejected by the similarity
check. Either way no bogus correction reaches the learner and nothing raises.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from habla.asr.types import Word
from habla.llm.protocol import ChatMessage

Kind = Literal["grammar", "word_choice", "pronunciation"]
MIN_SIMILARITY = 0.6  # a "corrected" sentence less alike than this is another sentence, not a correction
MAX_CHANGED_SHARE = 0.5  # more changed words than this: a rewrite, not a correction
_END = re.compile(r"[.!?…]+[\"'”’)\]]*")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*", re.UNICODE)

# Few-shot examples: the pretrained 270M model follows a pattern far better than an instruction.
EXAMPLES = {
    "es": (("Yo soy veinte años.", "Yo tengo veinte años."),
           ("Ayer voy al mercado con mi hermana.", "Ayer fui al mercado con mi hermana."),
           ("Me gusta mucho el café.", "Me gusta mucho el café.")),
    "en": (("She don't like apples.", "She doesn't like apples."),
           ("Yesterday I go to the cinema.", "Yesterday I went to the cinema."),
           ("I really like this song.", "I really like this song.")),
}

# Deterministic pronunciation tips: the first spelling pattern found in a doubtful word names what to practise.
TIPS = {
    "es": ((r"rr", "roll the 'rr' with the tip of the tongue"),
           (r"ñ", "'ñ' sounds like 'ny' in 'canyon'"),
           (r"ll", "'ll' sounds like the 'y' in 'yes'"),
           (r"j|g[ei]", "'j' (and 'g' before e, i) is a breathy sound from the throat"),
           (r"^h|[^c]h", "the 'h' is silent"),
           (r"z|c[ei]", "'z' (and 'c' before e, i) sounds like 'th' in Spain, 's' in Latin America"),
           (r"^r", "a word-initial 'r' is rolled"),
           (r"[bv]", "'b' and 'v' sound the same, softly between vowels"),
           (r"[áéíóú]", "stress the syllable with the written accent")),
    "en": ((r"th", "put the tongue between the teeth for 'th'"),
           (r"ed$", "the '-ed' ending: /t/, /d/ or /ɪd/ depending on the sound before it"),
           (r"^w|v", "round the lips for 'w'; touch the lower lip for 'v'"),
           (r"[^aeiou]s$", "say the final 's' clearly"),
           (r"r", "the English 'r' is not rolled: the tongue does not touch the roof of the mouth")),
}
DEFAULT_TIP = "say it again slowly, syllable by syllable"


@dataclass(frozen=True)
class Correction:
    kind: Kind
    original: str  # what the learner said ("" for a missing word)
    suggestion: str  # what to say instead ("" for a word to drop)
    explanation: str = ""
    probability: float | None = None  # pronunciation: how sure the ASR was of the word

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Correction:
        fields: dict[str, Any] = {k: data.get(k) for k in ("kind", "original", "suggestion", "explanation",
                                                           "probability") if k in data}
        return cls(**fields)


def words_of(text: str) -> list[str]:
    """Lower-case words, without punctuation or digits (accents kept: they are spelling in Spanish)."""
    return [w.lower().replace("’", "'") for w in _WORD.findall(unicodedata.normalize("NFC", text))]


def correction_prompt(text: str, language: str, language_name: str) -> list[ChatMessage]:
    """Messages that ask for ``text`` with its mistakes fixed, and nothing else."""
    system = (f"You correct sentences written by a learner of {language_name}. Repeat the sentence with every "
              "grammar and word-choice mistake fixed. If it is already correct, repeat it unchanged. "
              "Write only the sentence.")
    messages = [ChatMessage("system", system)]
    for wrong, right in EXAMPLES.get(language, EXAMPLES["en"]):
        messages += [ChatMessage("user", wrong), ChatMessage("assistant", right)]
    return [*messages, ChatMessage("user", text.strip())]


def _clean_answer(answer: str, user_text: str) -> str:
    """The first non-empty line, without a label or quotes the model may add, cut after as many sentences as the
    learner said: the 270M model often glues junk to the end ("...en Madrid.iatrics")."""
    line = next((ln.strip() for ln in answer.strip().splitlines() if ln.strip()), "")
    line = re.sub(r"^(corrected|correction|corrección|corregido|answer|respuesta)\s*:\s*", "", line,
                  flags=re.IGNORECASE)
    line = line.strip().strip("\"'“”«»").strip()
    ends = [m.end() for m in _END.finditer(line)]
    said = len(_END.findall(user_text.strip())) or 1
    return line[:ends[said - 1]] if len(ends) >= said else line


def same_script(text: str, reference: str) -> bool:
    """Whether every letter of ``text`` is in a script ``reference`` uses (junk is often another script)."""
    scripts = {_script(ch) for ch in reference if ch.isalpha()}
    return all(_script(ch) in scripts for ch in text if ch.isalpha())


def _script(ch: str) -> str:
    return unicodedata.name(ch, "?").split(" ")[0]


def _kind(original: Sequence[str], suggestion: Sequence[str]) -> Kind:
    """Same word in another form (voy → fui, don't → doesn't) is grammar; another word is word choice."""
    if len(original) != len(suggestion) or not original:
        return "grammar"  # a word added or dropped: an article, a preposition, a pronoun
    alike = all(difflib.SequenceMatcher(None, a, b).ratio() >= 0.5 for a, b in zip(original, suggestion, strict=True))
    return "grammar" if alike else "word_choice"


def parse_corrections(user_text: str, answer: str) -> list[Correction]:
    """The word-level edits from ``user_text`` to the LLM's corrected sentence; none if the answer is not a
    plausible correction of it (empty, another sentence, a rewrite, a reply to it)."""
    corrected = _clean_answer(answer, user_text)
    said, fixed = words_of(user_text), words_of(corrected)
    if not said or not fixed or said == fixed or not same_script(corrected, user_text):
        return []
    matcher = difflib.SequenceMatcher(None, said, fixed, autojunk=False)
    if matcher.ratio() < MIN_SIMILARITY:
        return []
    edits = [op for op in matcher.get_opcodes() if op[0] != "equal"]
    changed = sum(max(i2 - i1, j2 - j1) for _, i1, i2, j1, j2 in edits)
    if changed > MAX_CHANGED_SHARE * len(said):
        return []
    out = []
    for _, i1, i2, j1, j2 in edits:
        before, after = said[i1:i2], fixed[j1:j2]
        kind = _kind(before, after)
        out.append(Correction(kind, " ".join(before), " ".join(after), _explain(kind, before, after)))
    return out


def _explain(kind: Kind, before: Sequence[str], after: Sequence[str]) -> str:
    if not before:
        return f"add “{' '.join(after)}”"
    if not after:
        return f"leave out “{' '.join(before)}”"
    what = "another form" if kind == "grammar" else "another word"
    return f"{what}: “{' '.join(after)}” instead of “{' '.join(before)}”"


def pronunciation_hints(words: Iterable[Word], language: str, threshold: float) -> list[Correction]:
    """A hint for each word the ASR was unsure of (probability below ``threshold``), once per word."""
    seen: set[str] = set()
    hints = []
    for word in words:
        spoken = words_of(word.word)
        if len(spoken) != 1 or word.probability >= threshold:
            continue  # numbers and punctuation say nothing about pronunciation
        key = spoken[0]
        if key in seen:
            continue
        seen.add(key)
        hints.append(Correction("pronunciation", key, key, tip_for(key, language), round(float(word.probability), 3)))
    return hints


def tip_for(word: str, language: str) -> str:
    for pattern, tip in TIPS.get(language, ()):
        if re.search(pattern, word):
            return tip
    return DEFAULT_TIP
