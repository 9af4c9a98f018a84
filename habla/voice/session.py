"""The conversation loop, transport-free: ``feed`` input PCM, read ``events``. asyncio, with engines in threads.

Stages, one way: endpointer (inline, ~0.2 ms per 32 ms window) → TurnListener (ASR, decoded at pauses) → reply
(LLM thread → sentence queue → TTS thread) → events. A confirmed speech start while a reply is under way is a
barge-in: the reply's cancel event stops the LLM at the next token and TTS at the next sentence, its audio stops
at once, and memory keeps the part of the reply the user had heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from habla.audio.decode import SAMPLE_RATE
from habla.errors import HablaError
from habla.config import LLMSettings
from habla.llm.protocol import ChatOptions
from habla.llm.service import chat_options
from habla.tts.sentences import has_words
from habla.voice.endpoint import Endpointer, VadEvent
from habla.voice.engines import Held
from habla.voice.frames import (ErrorEvent, Event, ReplyAudio, ReplyDelta, ReplyDone, SpeechStarted, SpeechStopped,
                                Timings, TranscriptFinal, TranscriptPartial, TurnDiscarded, TurnTimings)
from habla.voice.listener import InputTrack, TurnListener, piece_decoder
from habla.voice.memory import Conversation
from habla.voice.options import VoiceOptions
from habla.voice.recording import Recording
from habla.voice.reply import ReplyOptions, ReplyProgress, reply_sentences, resample, synthesize
from habla.voice.turn import end_of_turn_probability, final_pitch_drop

log = logging.getLogger(__name__)

# No partial transcript once the user has been silent this long (three 32 ms VAD windows): it would show no new
# words, and its decode holds the turn's listener (the pause's decode waits for it) and the cores while the
# speculative reply is being made. Interleaved A/B, `habla bench voice -l en --turns 8 --paused 0`, 2 rounds, load
# 6-12: first audio from the last voiced sample p50 3.45 → 1.76 s and 1.38 → 1.11 s (p95 4.38 → 2.21, 2.16 → 2.77).
PARTIAL_QUIET = 3 * 512


def reply_chat_options(llm: LLMSettings, max_tokens: int, memory: Conversation, user_text: str) -> ChatOptions:
    """How a talk reply is generated. One line: the small model's next line is often a made-up next turn of the
    user. The repetition penalty (settings, 1.15) also covers the replies in memory and the user's line: greedy
    without it, SmolLM2-135M repeated a reply word for word or echoed the user. On 8-turn conversations not used to
    choose this (scripts/bench_talk_replies.py --lines held), distinct replies went en 5/8 → 8/8 and es 1/8 → 8/8,
    echoes of the user 0; a penalty over the replies alone still echoed the user in 6 of 8 Spanish turns."""
    return chat_options(llm, max_tokens=max_tokens, stop=("\n",), penalize_said=memory.said(user_text))


@dataclass
class _Played:
    """Reply audio handed to the client: what it says, its length and where it plays, in input-stream samples.

    Playback is placed on the input stream's clock: a client streams its microphone continuously, so the stream
    advances with wall time, and a recording fed faster than real time keeps its own timeline."""

    text: str
    samples: int
    start: int


@dataclass
class _Reply:
    turn: int
    cancel: threading.Event = field(default_factory=threading.Event)
    played: list[_Played] = field(default_factory=list)
    audio: list[np.ndarray] = field(default_factory=list)  # 16 kHz, for the recording
    cursor: int = 0  # where the client's playback of this reply ends, in input-stream samples
    interrupted_at: int | None = None  # input-stream sample where the user cut in
    first_audio: float | None = None  # handed to the client
    first_audio_ready: float | None = None  # synthesized (a speculative reply's may wait for the turn's end)
    generated: float | None = None
    opened: asyncio.Event = field(default_factory=asyncio.Event)  # the turn is over: events may go out
    pending: list[Event] = field(default_factory=list)  # events made before that


class VoiceSession:
    """One conversation. Use from one event loop: ``await feed(pcm)`` as audio arrives, ``events`` to send."""

    def __init__(self, held: Held, options: VoiceOptions) -> None:
        self.held, self.options = held, options
        self.track = InputTrack()
        self.endpointer = Endpointer(options.endpoint())
        self.memory = Conversation(options.persona, options.language, options.context_tokens)
        self.recording = Recording(self.track, options.language)
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.turn = 0
        self._decode = piece_decoder(held.asr, options.language)
        self._listener: TurnListener | None = None
        self._last_partial = 0
        self._answer: asyncio.Task[None] | None = None
        self._current: _Reply | None = None
        self._tasks: set[asyncio.Task[object]] = set()
        self._tick = asyncio.Event()  # set whenever the input stream advances (playback is timed by it)
        # A reply started at a pause: (task, future of the turn's end, the pause's sample, set once its first audio
        # is ready or it gave up).
        self._speculation: tuple[asyncio.Task[None], asyncio.Future[tuple[float, float]], int,
                                 asyncio.Event] | None = None
        self._input_done = False
        self._judging: asyncio.Future[None] | None = None  # semantic turn detection: the last pause's judgement

    # -- input ----------------------------------------------------------------------------------------------
    async def feed(self, audio: np.ndarray) -> None:
        """16 kHz mono float32 audio, any length, in order."""
        self.track.append(audio)
        for event in self.endpointer.feed(audio):
            await self._on_vad(event)
        self._tick.set()
        self._tick = asyncio.Event()
        listener = self._listener
        interval = self.options.partial_interval_ms * SAMPLE_RATE // 1000
        quiet = self.endpointer.position - self.endpointer.last_voiced_end >= PARTIAL_QUIET
        if listener is not None and self.track.length - self._last_partial >= interval and not quiet:
            self._last_partial = self.track.length
            self._spawn(self._partial(listener, self.turn))

    async def finish(self) -> None:
        """The input ended: an open turn ends here, and its reply is awaited (and deemed heard to the end)."""
        self._input_done = True
        self._tick.set()
        if self._listener is not None:
            end = self.endpointer.last_voiced_end
            self.endpointer.reset()
            await self._on_vad(VadEvent("end", end))
        while self._answer is not None and not self._answer.done():
            await asyncio.wait([self._answer])

    async def close(self) -> None:
        """Stop everything now (client gone): no thread or task outlives this."""
        if self._current is not None:
            self._current.cancel.set()
        speculation = self._speculation[0] if self._speculation else None
        tasks = [t for t in (self._answer, speculation, *self._tasks) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def interrupt(self) -> None:
        """Stop the reply now, as if the user had spoken (a client's stop button)."""
        self._barge_in(self.track.length)

    @property
    def thinking(self) -> bool:
        """A turn ended and its reply is not fully made yet (transcript, LLM or TTS still at work)."""
        if self._answer is None or self._answer.done():
            return False
        return self._current is None or self._current.generated is None

    @property
    def judging(self) -> bool:
        """Semantic turn detection is still deciding whether the user's last pause ends the turn."""
        return self._judging is not None and not self._judging.done()

    @property
    def busy(self) -> bool:
        return bool(self._answer and not self._answer.done()) or bool(self._tasks)

    # -- stages ---------------------------------------------------------------------------------------------
    def _emit(self, event: Event) -> None:
        self.events.put_nowait(event)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_vad(self, event: VadEvent) -> None:
        if event.kind == "start":
            self._barge_in(event.sample)
            self.turn += 1
            self._listener = TurnListener(self.track, event.sample, self._decode)
            self._last_partial = self.track.length
            self._emit(SpeechStarted(self.turn, event.sample / SAMPLE_RATE))
        elif event.kind == "hint" and self._listener is not None and self.options.speculative_reply:
            self._speculate(self._listener, event.sample, keep=False)  # the pause at this sample keeps its decode
        elif event.kind == "pause" and self._listener is not None:
            self._spawn(self._listener.commit(event.sample))
            if self.options.semantic:
                self._judging = asyncio.ensure_future(self._judge_pause(self._listener, event.sample))
                self._tasks.add(self._judging)
                self._judging.add_done_callback(self._tasks.discard)
            if self.options.speculative_reply and (self._speculation is None or
                                                   self._speculation[2] != event.sample):
                self._speculate(self._listener, event.sample, keep=True)
        elif event.kind == "resume":
            self._drop_speculation()  # the user goes on: that reply was for a turn that did not end
        elif event.kind == "end" and self._listener is not None:
            listener, self._listener = self._listener, None
            timing = (time.perf_counter(), (self.endpointer.position - event.sample) / SAMPLE_RATE)
            self._emit(SpeechStopped(self.turn, event.sample / SAMPLE_RATE))
            if self._speculation is not None and self._speculation[2] == event.sample:
                task, ended, _, _ = self._speculation
                self._speculation = None
                ended.set_result(timing)
                self._answer = task
                return
            self._drop_speculation()
            ended = asyncio.get_running_loop().create_future()
            ended.set_result(timing)
            self._answer = asyncio.create_task(self._respond(self.turn, listener, event.sample, ended, self._answer))

    async def _judge_pause(self, listener: TurnListener, pause: int) -> None:
        """Semantic turn detection: once the speech before the pause is transcribed, how long a silence ends the
        turn there (at once if it has already lasted that long)."""
        pitch = asyncio.ensure_future(asyncio.to_thread(final_pitch_drop, self.track.slice(listener.start, pause)))
        with contextlib.suppress(HablaError):
            await listener.commit(pause)
        model = self.held.turn_end
        text = listener.text
        llm = await asyncio.to_thread(model.probability, text) if model is not None and text else None
        drop = await pitch
        if listener is not self._listener:
            return  # the turn ended meanwhile
        probability = end_of_turn_probability(text, self.options.language, drop, llm)
        wait = self.options.turn_detection.end_silence_ms(probability)
        log.debug("turn %d pause at %.2f s: %r, pitch drop %s, model %s -> p=%.2f, end after %d ms", self.turn,
                  pause / SAMPLE_RATE, text[-40:], drop, llm, probability, wait)
        speculation = self._speculation
        if speculation is not None and speculation[2] == pause and wait < self.endpointer.options.end_silence_ms:
            # A turn that sounds finished ends no sooner than its reply can be heard: ending it earlier would not
            # bring the first audio forward, and a user who goes on meanwhile ("Thank you. ‖ Please hold…") was
            # not cut off. The longest silence still ends it (the endpointer's own end silence).
            await speculation[3].wait()
            if listener is not self._listener:
                return
        for event in self.endpointer.adapt_end_silence(pause, wait):
            await self._on_vad(event)

    def _speculate(self, listener: TurnListener, sample: int, keep: bool) -> None:
        """Start the reply to the speech before ``sample``, held back until the turn is known to end there."""
        self._drop_speculation()
        ended: asyncio.Future[tuple[float, float]] = asyncio.get_running_loop().create_future()
        ready = asyncio.Event()
        task = asyncio.create_task(self._respond(self.turn, listener, sample, ended, self._answer, ready, keep))
        task.add_done_callback(lambda _: ready.set())
        self._speculation = (task, ended, sample, ready)

    def _drop_speculation(self) -> None:
        if self._speculation is not None:
            self._speculation[0].cancel()
            self._speculation[3].set()
            self._speculation = None

    def _barge_in(self, sample: int) -> None:
        """The user speaks: whatever reply is being made or played stops now."""
        reply = self._current
        if reply is not None and reply.interrupted_at is None:
            reply.interrupted_at = sample
            reply.cancel.set()
        if self._answer is not None and not self._answer.done():
            self._answer.cancel()

    async def _partial(self, listener: TurnListener, turn: int) -> None:
        with contextlib.suppress(HablaError):
            text = await listener.partial()
            if text and listener is self._listener:
                self._emit(TranscriptPartial(turn, text))

    async def _respond(self, turn: int, listener: TurnListener, end: int,
                       ended: asyncio.Future[tuple[float, float]], previous: asyncio.Task[None] | None,
                       ready: asyncio.Event | None = None, keep: bool = True) -> None:
        """Transcript, reply and playback of one turn. ``ended`` resolves (decision time, silence waited) when the
        turn is known to be over; until then (a speculative reply) nothing goes out and nothing is remembered.
        ``keep`` False (a reply started before the pause): the transcript is previewed, and kept by the pause."""
        began = time.perf_counter()
        if previous is not None and not previous.done():
            await asyncio.wait([previous])  # its memory update comes first
        if keep:
            await listener.commit(end)
            text = listener.text.strip()
        else:
            text = (await listener.preview(end)).strip()
        final_at = time.perf_counter()
        reply, progress = _Reply(turn), ReplyProgress()
        if not has_words(text):
            if ready is not None:
                ready.set()  # nothing to say: nothing to wait for
            await ended
            self._emit(TurnDiscarded(turn))
            return
        self._current = reply
        opener = asyncio.ensure_future(self._open(reply, ended, listener, end, text))
        try:
            try:
                await self._speak(reply, text, progress, ready)
            finally:
                if ready is not None:
                    ready.set()  # a reply with nothing to say (or that failed) holds no turn open
            reply.generated = time.perf_counter()
            await reply.opened.wait()
            await self._played(reply)
        except HablaError as exc:
            self._emit(ErrorEvent(exc.code, str(exc)))
        finally:
            reply.cancel.set()
            opener.cancel()
            if reply.opened.is_set():
                self._finish_reply(reply, text)
                decided, waited = ended.result()
                self._record_timings(reply, listener, end, decided, waited, final_at, progress, began)
            elif self._current is reply:
                self._current = None

    async def _open(self, reply: _Reply, ended: asyncio.Future[tuple[float, float]], listener: TurnListener,
                    end: int, text: str) -> None:
        """Once the turn is over: the final transcript, then what the reply made meanwhile."""
        await ended
        start_s, end_s = listener.start / SAMPLE_RATE, end / SAMPLE_RATE
        self._emit(TranscriptFinal(reply.turn, text, round(start_s, 3), round(end_s, 3)))
        self.recording.add_user(reply.turn, start_s, end_s, text)
        reply.opened.set()
        for event in reply.pending:
            self._emit(event)
        reply.pending.clear()

    def _reply_event(self, reply: _Reply, event: Event) -> None:
        if reply.opened.is_set():
            self._emit(event)
        else:
            reply.pending.append(event)

    async def _speak(self, reply: _Reply, text: str, progress: ReplyProgress,
                     ready: asyncio.Event | None = None) -> None:
        held, opts, loop = self.held, self.options, asyncio.get_running_loop()
        messages = self.memory.prompt(text, held.llm.count_chat_tokens)
        tts = held.speaker.tts
        chat = reply_chat_options(held.llm_settings, opts.max_tokens, self.memory, text)
        reply_options = ReplyOptions(chat,
                                     opts.max_sentences, opts.first_clause_chars, tts.max_sentence_chars)
        sentences: asyncio.Queue[str | None] = asyncio.Queue()

        def post(item: object, put: object) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: the session was torn down
                loop.call_soon_threadsafe(put, item)  # type: ignore[arg-type]

        def produce() -> None:
            try:
                for sentence in reply_sentences(held.llm, messages, reply_options, reply.cancel,
                                                lambda d: post(ReplyDelta(reply.turn, d),
                                                               lambda e: self._reply_event(reply, e)),
                                                progress):
                    post(sentence, sentences.put_nowait)
            finally:
                post(None, sentences.put_nowait)

        producer = asyncio.ensure_future(asyncio.to_thread(produce))
        try:
            while (sentence := await sentences.get()) is not None:
                pcm = await asyncio.to_thread(synthesize, held.speaker, sentence, held.voice,
                                              opts.output_sample_rate, reply.cancel)
                reply.first_audio_ready = reply.first_audio_ready or time.perf_counter()
                if ready is not None:
                    ready.set()  # the first audio exists: a speculative reply's turn may end now
                if not reply.opened.is_set():
                    await reply.opened.wait()  # a speculative reply: audio waits for the end of the turn
                if reply.cancel.is_set():
                    break
                self._play(reply, sentence, pcm)
            await producer  # raises what the LLM raised
        finally:
            reply.cancel.set()
            with contextlib.suppress(BaseException):
                await asyncio.shield(producer)  # the thread ends at its next token; nothing outlives the session

    def _play(self, reply: _Reply, sentence: str, pcm: np.ndarray) -> None:
        rate = self.options.output_sample_rate
        if reply.first_audio is None:
            reply.first_audio = time.perf_counter()
        audio = resample(pcm, rate, SAMPLE_RATE)
        start = max(self.track.length, reply.cursor)  # the client plays it on arrival, or after the last piece
        reply.played.append(_Played(sentence, len(audio), start))
        reply.audio.append(audio)
        reply.cursor = start + len(audio)
        self._emit(ReplyAudio(reply.turn, sentence, rate, len(pcm), pcm))

    async def _played(self, reply: _Reply) -> None:
        """Wait until the client has played the reply (the input stream passed its end) or the input ended."""
        while self.track.length < reply.cursor and not self._input_done:
            await self._tick.wait()

    def _finish_reply(self, reply: _Reply, user_text: str) -> None:
        heard, pieces = heard_text(reply.played, reply.interrupted_at)
        self.memory.add(user_text, heard)
        if reply.played:
            start = reply.played[0].start
            audio = np.zeros(max(p.start + n for p, n in zip(reply.played, pieces, strict=True)) - start, np.float32)
            for p, n, a in zip(reply.played, pieces, reply.audio, strict=False):
                audio[p.start - start: p.start - start + n] = a[:n]
            self.recording.add_assistant(reply.turn, start / SAMPLE_RATE, audio, heard,
                                         reply.interrupted_at is not None)
        self._emit(ReplyDone(reply.turn, heard, reply.interrupted_at is not None))
        if self._current is reply:
            self._current = None

    def _record_timings(self, reply: _Reply, listener: TurnListener, end: int, decided: float, waited: float,
                        final_at: float, progress: ReplyProgress, began: float) -> None:
        def since(t: float | None) -> float | None:  # 0 = ready before the turn was known to be over
            return None if t is None else round(max(t - decided, 0.0), 3)

        def work(t: float | None) -> float | None:
            return None if t is None else round(t - began, 3)

        usage = progress.usage
        timings = TurnTimings(
            turn=reply.turn, speech_seconds=round((end - listener.start) / SAMPLE_RATE, 3),
            endpoint_wait=round(waited, 3),
            final_transcript=since(final_at) or 0.0, first_token=since(progress.first_token),
            first_sentence=since(progress.first_sentence), first_audio=since(reply.first_audio),
            reply_done=since(reply.generated),
            tokens=usage.completion_tokens if usage else 0, cached_prompt_tokens=usage.cached_tokens if usage else 0,
            lead=round(max(decided - began, 0.0), 3), work_transcript=work(final_at),
            work_first_token=work(progress.first_token), work_first_sentence=work(progress.first_sentence),
            work_first_audio=work(reply.first_audio_ready))
        self.recording.timings.append(timings)
        self._emit(Timings(timings))


def heard_text(played: list[_Played], interrupted_at: int | None) -> tuple[str, list[int]]:
    """What the user heard of a reply: all of it, or what played before the interruption (a piece cut part-way
    keeps that share of its words). Also the samples heard of each piece."""
    words: list[str] = []
    heard: list[int] = []
    for p in played:
        n = p.samples if interrupted_at is None else min(max(interrupted_at - p.start, 0), p.samples)
        split = p.text.split()
        words.extend(split[: round(len(split) * n / p.samples)] if p.samples else [])
        heard.append(n)
    return " ".join(words), heard
