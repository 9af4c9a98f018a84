"""The voice latency benchmark: scripted turns from recorded speech, streamed in real time through a VoiceSession
(the same code /v1/talk and `habla chat` run).

Two kinds of turn: complete clips, and clips with a pause inserted mid-sentence (cut between two words of one
sentence, at the middle of the gap between them, by Whisper's word timestamps; 400-1200 ms of silence). Per kind:
first reply audio from the user's last voiced sample, and the premature-end rate (the turn was ended, and a reply
started, heard or not, at the inserted pause). Clips are split by a hash of their id into a tuning half and a held-out
half, reported separately: nothing was tuned on the held-out half."""

from __future__ import annotations

import asyncio
import difflib
import random
import re
import statistics
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from habla.asr.bench import Clip, read_manifest
from habla.asr.transcriber import Transcriber
from habla.asr.wer import normalize
from habla.audio.decode import SAMPLE_RATE, decode
from habla.config import Settings
from habla.voice.endpoint import Endpointer, EndpointOptions
from habla.voice.engines import VoiceEngines
from habla.voice.frames import (
    ReplyDone,
    SpeechStopped,
    Timings,
    TranscriptFinal,
    TurnDiscarded,
)
from habla.voice.listener import Decode, InputTrack, TurnListener, piece_decoder
from habla.voice.options import VoiceOptions
from habla.voice.session import VoiceSession
from habla.voice.turn import end_of_turn_probability, final_pitch_drop

FRAME = SAMPLE_RATE // 50
STAGES = ("final_transcript", "first_token", "first_sentence", "first_audio")
WORK_STAGES = ("lead", "work_transcript", "work_first_token", "work_first_sentence", "work_first_audio")
PAUSE_MS = (400, 1200)  # inserted mid-sentence pauses
MAX_WORD_GAP = 0.25  # seconds: a longer gap between two words is a pause the speaker made already
SETTLE_SECONDS = 30.0
DEFAULT_SEED = 16  # the turns every figure before HELD_OUT_2 was measured on (both halves)
# A second held-out set, fixed before the classifier's third training (issue 16, 2026-12-02): only held-out clips,
# a seed never used before (new cut positions and pause lengths), 24 complete + 24 paused turns per language.
# Measured once, at the end: `habla bench voice --set held-out-2 --decisions-only`.
HELD_OUT_2 = {"seed": 1602, "turns": 24, "paused": 24, "held_out_only": True}
PREMATURE_SLACK = SAMPLE_RATE // 10  # an end this close to the last voiced sample is the real one (VAD jitter)


@dataclass(frozen=True)
class ScriptedTurn:
    clip: str
    language: str
    audio: np.ndarray
    speech_end: int  # the turn's real end: its last voiced sample
    resume: int | None = None  # paused turns: sample where speech resumes after the inserted pause
    cut: int | None = None  # paused turns: sample where the pause was inserted
    pause_ms: int = 0
    after_sentence_end: bool | None = None  # paused turns: the reference's sentence ended at the cut (None: unknown)

    @property
    def held_out(self) -> bool:
        return held_out_clip(self.clip)

    @property
    def kind(self) -> str:
        return "complete" if self.resume is None else "paused"


def held_out_clip(clip_id: str) -> bool:
    """The held-out half of the clips (by a hash of the id): never used to tune turn detection."""
    return zlib.crc32(clip_id.encode()) % 2 == 0


def pick_clips(folder: Path, language: str, turns: int, max_seconds: float = 8.0,
               held_out_only: bool = False) -> list[Clip]:
    clips = [c for c in read_manifest(folder)
             if c.lang == language and c.text.strip() and 1.0 < c.seconds <= max_seconds
             and (held_out_clip(c.id) or not held_out_only)]
    return (clips * (turns // max(len(clips), 1) + 1))[:turns]


CutRule = Literal["reference", "whisper"]
CUT_RULES: tuple[CutRule, ...] = ("reference", "whisper")
_SENTENCE_MARK = re.compile(r"[.?!;:…]['\"”’)\]]*$")


def aligned_words(words: list[str], reference: str, language: str) -> dict[int, int]:
    """Recognised word index → reference word index, for the words that match (normalised: case, accents, digits)."""
    hyp = [normalize(w, language) for w in words]
    ref = [normalize(w, language) for w in reference.split()]
    matcher = difflib.SequenceMatcher(None, hyp, ref, autojunk=False)
    return {b.a + k: b.b + k for b in matcher.get_matching_blocks() for k in range(b.size)}


def ends_sentence(words: list[str], i: int, reference: str, language: str) -> bool | None:
    """Whether the reference sentence ends after recognised word ``i`` (its reference word carries . ? ! ; : or …),
    None where the word does not align with the reference."""
    j = aligned_words(words, reference, language).get(i)
    return None if j is None else bool(_SENTENCE_MARK.search(reference.split()[j]))


def cut_points(words: list[Any], reference: str, language: str, rule: CutRule) -> list[int]:
    """Indices i where a pause between word i and i+1 is inside a sentence. ``reference``: the manifest's text
    decides (both words align with consecutive reference words, the first without a sentence mark); ``whisper``:
    the construction before, where only Whisper's own punctuation decided (it cut "Thank you. ‖ Please hold")."""
    close = [i for i in range(len(words) - 1) if words[i + 1].start - words[i].end < MAX_WORD_GAP]
    if rule == "whisper":
        return [i for i in close if words[i].word.strip()[-1:] not in ".?!;:"]
    ref = reference.split()
    to_ref = aligned_words([w.word for w in words], reference, language)
    return [i for i in close if i in to_ref and to_ref.get(i + 1) == to_ref[i] + 1
            and not _SENTENCE_MARK.search(ref[to_ref[i]])]


def paused_turn(transcriber: Transcriber, clip: Clip, rng: random.Random,
                rule: CutRule = "reference") -> ScriptedTurn | None:
    """The clip with a 400-1200 ms pause between two words of one sentence, or None when it has no such gap."""
    audio = decode(clip.path)
    options = transcriber.default_options(language=clip.lang, word_timestamps=True, vad=False)
    words = [w for s in transcriber.transcribe(audio, options=options).segments for w in s.words]
    gaps = cut_points(words, clip.text, clip.lang, rule)
    if not gaps:
        return None
    i = rng.choice(gaps)
    cut = int((words[i].end + words[i + 1].start) / 2 * SAMPLE_RATE)
    pause_ms = rng.randint(*PAUSE_MS)
    pause = np.zeros(pause_ms * SAMPLE_RATE // 1000, np.float32)
    joined = np.concatenate([audio[:cut], pause, audio[cut:]])
    after_end = ends_sentence([w.word for w in words], i, clip.text, clip.lang)
    return ScriptedTurn(clip.id, clip.lang, joined, last_voiced(joined), cut + len(pause), cut, pause_ms,
                        after_sentence_end=after_end)


def last_voiced(audio: np.ndarray) -> int:
    """The last voiced sample, by the talk VAD with an end silence no turn's pause reaches."""
    endpointer = Endpointer(EndpointOptions(end_silence_ms=5000))
    endpointer.feed(np.concatenate([audio, np.zeros(6 * SAMPLE_RATE, np.float32)]))
    return endpointer.last_voiced_end


def build_turns(transcriber: Transcriber, folder: Path, language: str, complete: int, paused: int,
                seed: int = DEFAULT_SEED, rule: CutRule = "reference",
                held_out_only: bool = False) -> list[ScriptedTurn]:
    """``complete`` whole clips and ``paused`` clips with a mid-sentence pause, interleaved (distinct clips where the
    set has enough). ``seed`` picks the clips' order, the cut and the pause length; ``held_out_only`` keeps only the
    held-out half's clips (HELD_OUT_2: a second held-out set)."""
    rng = random.Random(f"{seed}-{language}")
    clips = pick_clips(folder, language, max(complete, paused) * 2, held_out_only=held_out_only)
    rng.shuffle(clips)
    whole = [ScriptedTurn(c.id, c.lang, audio, last_voiced(audio)) for c in clips[:complete]
             if len(audio := decode(c.path))]
    cut: list[ScriptedTurn] = []
    for clip in clips[complete:] + clips[:complete]:
        if len(cut) >= paused:
            break
        turn = paused_turn(transcriber, clip, rng, rule)
        if turn is not None:
            cut.append(turn)
    turns = whole + cut
    rng.shuffle(turns)
    return turns


def silence_premature(turn: ScriptedTurn, options: VoiceOptions) -> bool:
    """Whether `silence` turn detection (the VAD alone decides) ends this paused turn at its inserted pause."""
    endpointer = Endpointer(options.with_(turn_detection=replace(options.turn_detection, type="silence")).endpoint())
    for i in range(0, len(turn.audio), FRAME):
        for event in endpointer.feed(turn.audio[i:i + FRAME]):
            if event.kind == "end":
                return event.sample < turn.speech_end - PREMATURE_SLACK
    return False


@dataclass(frozen=True)
class Decision:
    """Where the endpointing alone ended a turn, decoding being instant (no load, no race with the user)."""

    end: int | None  # sample of the first end (the last voiced sample before it), None = never
    waited_ms: int  # silence waited after it
    text: str  # transcript at that point
    probability: float | None  # end-of-turn probability of the last judged pause


def decide(turn: ScriptedTurn, options: VoiceOptions, decode_piece: Decode,
           model_probability: Callable[[str], float] | None = None) -> Decision:
    """The first end of turn `options` make on this turn's audio, with every pause judged before the next frame.
    A premature end here is one the detection would make on an idle machine; in the live pipeline a slow decode can
    come after the user went on and hide it."""
    endpointer, track = Endpointer(options.endpoint()), InputTrack()
    listener: TurnListener | None = None
    probability: float | None = None
    audio = np.concatenate([turn.audio, np.zeros(3 * SAMPLE_RATE, np.float32)])
    for i in range(0, len(audio), FRAME):
        track.append(audio[i:i + FRAME])
        events = endpointer.feed(audio[i:i + FRAME])
        while events:
            event = events.pop(0)
            if event.kind == "start":
                listener = TurnListener(track, event.sample, decode_piece)
            elif event.kind == "pause" and listener is not None and options.semantic:
                asyncio.run(listener.commit(event.sample))
                drop = final_pitch_drop(track.slice(listener.start, event.sample))
                text = listener.text
                llm = model_probability(text) if model_probability and text else None
                probability = end_of_turn_probability(text, options.language, drop, llm)
                events += endpointer.adapt_end_silence(event.sample, options.turn_detection.end_silence_ms(probability))
            elif event.kind == "end" and listener is not None:
                asyncio.run(listener.commit(event.sample))
                return Decision(event.sample, (endpointer.position - event.sample) * 1000 // SAMPLE_RATE,
                                listener.text, probability)
    return Decision(None, 0, listener.text if listener else "", probability)


@dataclass(frozen=True)
class PauseCue:
    """One pause inside a turn and what turn detection knows there (for choosing the cues' weights)."""

    sample: int  # end of the speech before the pause
    silence_ms: int  # how long the user then stays silent (the turn's end: until the end of the audio)
    final: bool  # the turn's real end (the last voiced sample)
    text: str
    pitch_drop: float | None
    model_probability: float | None


def pause_cues(turn: ScriptedTurn, decode_piece: Decode,
               model_probability: Callable[[str], float] | None = None) -> list[PauseCue]:
    """Every pause of the turn (the VAD's pauses, no end before 5 s of silence) with its cues."""
    endpointer, track = Endpointer(EndpointOptions(end_silence_ms=5000)), InputTrack()
    listener: TurnListener | None = None
    found: list[tuple[int, str, float | None, float | None]] = []
    resumes: dict[int, int] = {}
    audio = np.concatenate([turn.audio, np.zeros(6 * SAMPLE_RATE, np.float32)])
    for i in range(0, len(audio), FRAME):
        track.append(audio[i:i + FRAME])
        for event in endpointer.feed(audio[i:i + FRAME]):
            if event.kind == "start" and listener is None:
                listener = TurnListener(track, event.sample, decode_piece)
            elif event.kind == "pause" and listener is not None:
                asyncio.run(listener.commit(event.sample))
                text = listener.text
                found.append((event.sample, text, final_pitch_drop(track.slice(listener.start, event.sample)),
                              model_probability(text) if model_probability and text else None))
            elif event.kind == "resume" and found:
                resumes.setdefault(found[-1][0], event.sample)  # a resume after a later hint is not this pause's
    return [PauseCue(sample, (resumes.get(sample, len(audio)) - sample) * 1000 // SAMPLE_RATE,
                     abs(sample - turn.speech_end) <= PREMATURE_SLACK, text, drop, llm)
            for sample, text, drop, llm in found]


def decision_summary(turns: list[ScriptedTurn], decisions: list[Decision]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in ("complete", "paused"):
        for split, held in (("tune", False), ("held_out", True), ("all", None)):
            group = [(t, d) for t, d in zip(turns, decisions, strict=True)
                     if t.kind == kind and (held is None or t.held_out == held)]
            if not group:
                continue
            premature = sum(1 for t, d in group if d.end is not None and d.end < t.speech_end - PREMATURE_SLACK)
            out[f"{kind}_{split}"] = {"turns": len(group), "premature": premature,
                                      "premature_rate": round(premature / len(group), 3),
                                      "waited_ms": _percentiles([d.waited_ms for t, d in group
                                                                 if d.end is not None
                                                                 and d.end >= t.speech_end - PREMATURE_SLACK])}
    return out


class _Stream:
    """Feeds a session in 20 ms frames on a real-time schedule and collects its events."""

    def __init__(self, session: VoiceSession) -> None:
        self.session, self.started, self.fed = session, time.perf_counter(), 0
        self.events: list[Any] = []

    async def play(self, audio: np.ndarray, on_event: Callable[[Any], None]) -> None:
        for i in range(0, len(audio), FRAME):
            await self.session.feed(audio[i:i + FRAME])
            self.fed += len(audio[i:i + FRAME])
            await asyncio.sleep(max(0.0, self.started + self.fed / SAMPLE_RATE - time.perf_counter()))
            while not self.session.events.empty():
                on_event(self.session.events.get_nowait())


async def _run_turn(stream: _Stream, turn: ScriptedTurn) -> dict[str, Any]:
    session = stream.session
    offset = stream.fed + FRAME * 10
    row: dict[str, Any] = {"clip": turn.clip, "language": turn.language, "kind": turn.kind,
                           "held_out": turn.held_out, "pause_ms": turn.pause_ms, "premature": False}
    first_turn = session.turn + 1
    done: set[int] = set()

    def on_event(event: Any) -> None:
        if isinstance(event, SpeechStopped) and event.turn == first_turn and stream.fed < offset + turn.speech_end:
            row["premature"] = True  # ended (and a reply started) before the user had finished
        elif isinstance(event, TranscriptFinal):
            row.setdefault("transcripts", []).append(event.text)
        elif isinstance(event, Timings) and event.timings.turn == session.turn:
            row["timings"] = event.timings.__dict__
        elif isinstance(event, ReplyDone | TurnDiscarded):
            done.add(event.turn)
            if isinstance(event, ReplyDone):
                row["reply"] = event.text

    gap = np.zeros(FRAME * 10, np.float32)
    await stream.play(np.concatenate([gap, turn.audio]), on_event)
    waited = 0.0
    while (session.turn < first_turn or session.turn not in done or session.endpointer.speaking) \
            and waited < SETTLE_SECONDS:
        await stream.play(gap, on_event)  # the user listens: the microphone keeps streaming silence
        waited += len(gap) / SAMPLE_RATE
    return row


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    q = statistics.quantiles(values, n=20, method="inclusive") if len(values) > 1 else [values[0]] * 19
    return {"n": len(values), "p50": round(statistics.median(values), 3), "p95": round(q[18], 3),
            "max": round(max(values), 3)}


def from_last_voiced(row: dict[str, Any]) -> float | None:
    """Seconds from the user's last voiced sample to the first reply audio (silence waited + time after)."""
    t = row.get("timings")
    if not t or t.get("first_audio") is None:
        return None
    return float(t["endpoint_wait"] + t["first_audio"])


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per kind (complete / paused) and split (tune / held-out): latency and premature ends."""
    out: dict[str, Any] = {}
    for kind in ("complete", "paused"):
        for split, held in (("tune", False), ("held_out", True), ("all", None)):
            group = [r for r in rows if r["kind"] == kind and (held is None or r["held_out"] == held)]
            if not group:
                continue
            latency = [v for r in group if not r["premature"] and (v := from_last_voiced(r)) is not None]
            entry: dict[str, Any] = {"turns": len(group), "from_last_voiced_sample": _percentiles(latency)}
            entry["premature"] = sum(r["premature"] for r in group)
            entry["premature_rate"] = round(entry["premature"] / len(group), 3)
            entry["silence_500ms_premature_rate"] = round(sum(r["silence_premature"] for r in group) / len(group), 3)
            if kind == "complete":
                entry["stages"] = {s: _percentiles([r["timings"][s] for r in group
                                                    if r.get("timings") and r["timings"].get(s) is not None])
                                   for s in (*STAGES, "endpoint_wait", *WORK_STAGES)}
            out[f"{kind}_{split}"] = entry
    return out


def benchmark(settings: Settings, folder: Path, turns: int = 20, language: str = "en", paused: int = 20,
              turn_detection: str | None = None, live: bool = True,
              on_step: Callable[[str], None] = print, cuts: CutRule = "reference", seed: int = DEFAULT_SEED,
              held_out_only: bool = False) -> dict[str, Any]:
    """``turns`` complete and ``paused`` mid-sentence-pause turns per language (comma-separated): one live
    conversation per language streamed in real time (``live``), and the turn detection's decisions on the same
    turns with instant decoding, for the chosen detection and for `silence` (fixed ``end_silence_ms``)."""
    engines = VoiceEngines.from_settings(settings)
    rows: list[dict[str, Any]] = []
    script_all: list[ScriptedTurn] = []
    decisions: dict[str, list[Decision]] = {"chosen": [], "silence": []}
    load_seconds, voices = 0.0, []
    options = VoiceOptions.from_settings(settings)
    for lang in [x.strip() for x in language.split(",") if x.strip()]:
        overrides: dict[str, Any] = {"language": lang}
        if turn_detection:
            overrides["turn_detection"] = {"type": turn_detection}
        options = VoiceOptions.from_settings(settings, **overrides)
        silence = options.with_(turn_detection=replace(options.turn_detection, type="silence"))
        script = build_turns(engines.transcriber, folder, lang, turns, paused, seed, cuts, held_out_only)
        script_all += script
        turn_end = engines.turn_end(options)
        with engines.transcriber.models.use(settings.asr.model) as whisper:
            decode_piece = piece_decoder(whisper, lang)
            for turn in script:
                decisions["chosen"].append(decide(turn, options, decode_piece,
                                                  turn_end.probability if turn_end else None))
                decisions["silence"].append(decide(turn, silence, decode_piece))
                d = decisions["chosen"][-1]
                on_step(f"{lang} {turn.kind:8} {turn.clip}: ended at {d.end and d.end / SAMPLE_RATE:.2f} s "
                        f"(resumes {turn.resume and turn.resume / SAMPLE_RATE}) after {d.waited_ms} ms, "
                        f"p={d.probability}, {d.text!r}")
        if live:
            load, voice, lang_rows = _live(engines, options, script, on_step)
            load_seconds += load
            voices.append(voice)
            for row, turn in zip(lang_rows, script, strict=True):
                row["silence_premature"] = silence_premature(turn, options)
            rows += lang_rows
    return {"turns": len(script_all), "answered": sum(1 for r in rows if r.get("timings")),
            "load_seconds": round(load_seconds, 2), "asr_model": settings.asr.model, "llm_model": settings.llm.model,
            "voice": ", ".join(voices), "language": language, "cuts": cuts, "seed": seed,
            "held_out_only": held_out_only,
            "turn_detection": options.turn_detection.__dict__,
            "end_silence_ms": options.end_silence_ms, "pause_ms": options.pause_ms,
            "latency": summarize(rows) if rows else {},
            "decisions": {name: decision_summary(script_all, found) for name, found in decisions.items()},
            "decision_rows": [{"clip": t.clip, "kind": t.kind, "held_out": t.held_out, "pause_ms": t.pause_ms,
                               "cut": t.cut, "resume": t.resume, "speech_end": t.speech_end,
                               "after_sentence_end": t.after_sentence_end,
                               **d.__dict__, "silence_end": ds.end}
                              for t, d, ds in zip(script_all, decisions["chosen"], decisions["silence"], strict=True)],
            "rows": rows}


def _live(engines: VoiceEngines, options: VoiceOptions, script: list[ScriptedTurn],
          on_step: Callable[[str], None]) -> tuple[float, str, list[dict[str, Any]]]:
    started = time.perf_counter()
    held = engines.hold(options)
    load_seconds = time.perf_counter() - started

    async def run() -> list[dict[str, Any]]:
        session = VoiceSession(held, options)
        stream, out = _Stream(session), []
        try:
            for turn in script:
                row = await _run_turn(stream, turn)
                out.append(row)
                on_step(f"{options.language} {turn.kind:8} {turn.clip}: {' | '.join(row.get('transcripts', []))!r} "
                        f"→ {row.get('reply', '')!r}{'  PREMATURE' if row['premature'] else ''}")
            return out
        finally:
            await session.close()

    try:
        return load_seconds, held.voice.name, asyncio.run(run())
    finally:
        held.close()
