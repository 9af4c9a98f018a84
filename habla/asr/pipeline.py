"""audio → blocks → VAD spans → ≤30 s chunks → engine → segments. One run per file, bounded memory.

Audio is decoded in blocks (``block_seconds``). In each block, silences found by VAD are shortened to 1 s, the
speech is grouped into chunks of at most 30 s (one Whisper window each) and decoded in batches, and the times are
mapped back to the file's. Speech running into the end of a block is carried
into the next block, so no word is cut at a block boundary.
"""

from __future__ import annotations

import bisect
import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace

import numpy as np

from habla.asr.options import DecodeGuards, TranscribeOptions
from habla.asr.protocol import ASREngine, ChunkText, Span
from habla.asr.segmenter import chunk_segments
from habla.asr.types import Segment, Transcript, TranscriptInfo
from habla.audio.decode import SAMPLE_RATE, AudioSource, iter_blocks, probe_duration
from habla.audio.vad import speech_spans
from habla.errors import Cancelled

log = logging.getLogger(__name__)

WINDOW_SECONDS = 30.0  # Whisper's fixed input window
CARRY_MARGIN_SECONDS = 1.0  # speech ending this close to a block's end may continue in the next block
# Longer silences start a new chunk rather than feed Whisper silence. 8 s was better on average on the tuning
# long-pauses files but raised the worst one (Spanish tuning-3) from +0.43 to +2.15 points over faster-whisper.
# Since silences are shortened to KEPT_SILENCE_SECONDS before chunking, this separates only the pieces decoded again
# together (skipped speech, halves of sparse chunks) and the speech language detection hears.
MAX_INNER_GAP_SECONDS = 4.0
# A full chunk is cut at the longest silence that leaves it at least this share of the window. Against cutting at
# the last pause that fits (greedy), on 14 tuning-seed 3-min files (docs/asr.md): worst ΔWER to faster-whisper
# Spanish +5.95 -> +0.89 points (shuffled, seed tuning-3), English unchanged; single files move ±2.6 points either
# way (ordered es 11.73 -> 14.37, shuffled es tuning-3 18.45 -> 13.39): where Whisper base is cut changes its
# Spanish wording. Only 0.5 and greedy (1.0) were compared.
MIN_CHUNK_FILL = 0.5

# Silences are shortened to this before decoding (half of it kept on each side of the speech), so a 30-s window holds
# speech, not pauses: Whisper's encoder costs the same for a window of speech or of silence, and it is most of the
# CPU time (base, 2 cores: 0.56 s a window, the greedy English decode 0.45 s). Pauses of this length still end a
# segment (``SegmentRules.pause_seconds`` 0.8 s). Measured in docs/asr.md ("Compacted silences").
KEPT_SILENCE_SECONDS = 1.0

RAMP_UP_BATCHES = (1, 2, 4)
FIRST_BLOCK_SECONDS = 60.0  # decode and VAD a short first block so the first segment comes quickly
TAIL_SECONDS = 1.0  # this much speech left after a chunk's last decoded word means decoding stopped early
MAX_RESUME_PASSES = 2
# Cross-attention word times can fall a little outside the VAD region they were spoken in (not tuned).
WORD_SLACK_SECONDS = 0.3
# Speech runs at 2-4 words a second. Text-only decoding can skip a phrase and the alignment then stretches the next
# words back over it (held-out 45-min English: "Your" 0.6 s and "message" 4.3 s laid over a skipped 5-s phrase), so
# a speech region counts as heard when it holds one word per 2 s, words longer than 1.5 s not counted.
MAX_WORD_SECONDS = 1.5
MIN_HEARD_WORDS_PER_SECOND = 0.5
# Whisper writes 10-20 characters per second of speech; a chunk with far less text stopped early (typically
# after a pause or a change of speaker), and its last word's timing is stretched, so no tail is visible.
MIN_CHARS_PER_SPEECH_SECOND = 4.0
MIN_SPARSE_SPEECH_SECONDS = 6.0
# Previous-text prompts: Whisper takes up to 223 prompt tokens (about 1000 characters). A batch shares one
# prompt, so later chunks in a batch see older text; batches of 2 keep nearly all the gain (Spanish long-form:
# batch 1 10.64 %, 2 10.70 %, 8 11.26 % WER) and most of the batching speed.
CONTEXT_CHARS = 1000
CONTEXT_SEGMENTS = 40
CONTEXT_BATCH_SIZE = 2

ProgressCallback = Callable[[float, "float | None"], None]
# Called with each block's audio, its speech spans (relative to it) and its offset in the file: diarization
# reuses the VAD that transcription ran.
SpeechCallback = Callable[[np.ndarray, "list[Span]", float], None]


def group_spans(spans: list[Span], window: float = WINDOW_SECONDS, max_gap: float = MAX_INNER_GAP_SECONDS,
                min_fill: float = MIN_CHUNK_FILL) -> list[Span]:
    """Merge consecutive speech spans into chunks no longer than one Whisper window, cut in silences.

    Chunks grow span by span (as WhisperX's merge_chunks); when the next span no longer fits, the chunk ends at the
    longest silence between its spans in the last ``1 - min_fill`` of the window, rather than at whichever short
    pause comes last: a cut inside a sentence makes Whisper invent the sentence's end. A silence longer than
    ``max_gap`` always ends a chunk; only a span longer than the window is cut mid-speech.
    """
    pieces = [piece for span in spans for piece in _window_pieces(span, window)]
    chunks: list[Span] = []
    first = 0
    while first < len(pieces):
        start = pieces[first][0]
        last = first
        while (last + 1 < len(pieces) and pieces[last + 1][1] - start <= window
               and _gap(pieces, last) <= max_gap):
            last += 1
        if last + 1 < len(pieces) and _gap(pieces, last) <= max_gap:  # full: choose where to cut
            fits = [k for k in range(first, last + 1) if pieces[k][1] - start >= min_fill * window] or [last]
            last = max(fits, key=lambda k: (_gap(pieces, k), k))
        chunks.append((start, pieces[last][1]))
        first = last + 1
    return chunks


def _gap(pieces: list[Span], index: int) -> float:
    """The silence after ``pieces[index]`` (infinite after the last)."""
    return pieces[index + 1][0] - pieces[index][1] if index + 1 < len(pieces) else float("inf")


def _window_pieces(span: Span, window: float) -> list[Span]:
    """A span cut in window-long pieces (VAD caps its spans at 30 s, so this is rare)."""
    start, end = span
    pieces = []
    while end - start > window:
        pieces.append((start, start + window))
        start += window
    return [*pieces, (start, end)]


def fixed_windows(duration: float, window: float = WINDOW_SECONDS) -> list[Span]:
    spans, t = [], 0.0
    while t < duration:
        spans.append((t, min(t + window, duration)))
        t += window
    return spans


def undecoded_tails(results: list[ChunkText], spans: list[Span], offset: float) -> list[Span]:
    """Where a chunk's text stops before its speech does, the span still to decode (relative seconds).

    Whisper sometimes ends a chunk early (after a pause, or a long run of speech); sequential Whisper
    recovers by seeking to its last timestamp. The batched equivalent: decode the rest again.
    """
    tails: list[Span] = []
    for result in results:
        if not result.words:
            continue
        last = result.words[-1].end - offset
        chunk_end = result.span[1] - offset
        rest = [(max(s, last), e) for s, e in spans if e > last and s < chunk_end]
        speech = sum(min(e, chunk_end) - s for s, e in rest)
        if speech >= TAIL_SECONDS and chunk_end - rest[0][0] >= TAIL_SECONDS:
            tails.append((rest[0][0], chunk_end))
    return tails


def skipped_speech(results: list[ChunkText], spans: list[Span], offset: float) -> list[Span]:
    """Speech regions before a chunk's last word that no decoded word falls in (relative seconds).

    Text-only batched decoding sometimes skips a whole phrase at the start or in the middle of a chunk (tuning file
    long-pauses-es tuning-2: the first 20 words of a 28-s chunk, after a 6-s pause, were never written); sequential
    Whisper would have seeked back. Only regions of at least ``TAIL_SECONDS`` count, so a breath or click is not
    "missed speech"; regions close together are decoded again as one piece.
    """
    missed: list[Span] = []
    for result in results:
        if not result.words:
            continue
        last = result.words[-1].end - offset
        middles = [(w.start + w.end) / 2 - offset for w in result.words if w.end - w.start <= MAX_WORD_SECONDS]
        inside = speech_within((result.span[0] - offset, last), spans)
        for start, end in inside:
            heard = sum(start - WORD_SLACK_SECONDS <= m <= end + WORD_SLACK_SECONDS for m in middles)
            if end - start >= TAIL_SECONDS and heard < max(1.0, MIN_HEARD_WORDS_PER_SECOND * (end - start)):
                missed.append((start, end))
    return group_spans(missed, window=WINDOW_SECONDS / 2, max_gap=MAX_INNER_GAP_SECONDS / 2)


def speech_within(span: Span, spans: list[Span]) -> list[Span]:
    return [(max(s, span[0]), min(e, span[1])) for s, e in spans if e > span[0] and s < span[1]]


def too_sparse(result: ChunkText, spans: list[Span], offset: float) -> bool:
    inside = speech_within((result.span[0] - offset, result.span[1] - offset), spans)
    speech = sum(e - s for s, e in inside)
    return speech >= MIN_SPARSE_SPEECH_SECONDS and len(result.text.strip()) < MIN_CHARS_PER_SPEECH_SECOND * speech


def split_chunk(result: ChunkText, spans: list[Span], offset: float) -> list[Span]:
    """The chunk's speech regrouped into half windows, so each part is decoded on its own."""
    inside = speech_within((result.span[0] - offset, result.span[1] - offset), spans)
    return group_spans(inside, window=WINDOW_SECONDS / 2, max_gap=MAX_INNER_GAP_SECONDS / 2)


_WORD = re.compile(r"\w+")
NGRAM = 3  # word 3-grams: long enough that common phrases ("press 5 to") rarely match by chance


def _ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def ngram_overlap(text: str, source: str, n: int = NGRAM) -> float:
    """The share of ``text``'s word n-grams that also occur in ``source`` (0 when ``text`` is shorter than n)."""
    words = _WORD.findall(text.lower())
    grams = _ngrams(words, n)
    return len(grams & _ngrams(_WORD.findall(source.lower()), n)) / len(grams) if grams else 0.0


def repeats(new: str, old: str, threshold: float) -> bool:
    """Whether ``new`` says again what ``old`` said: most of its 3-grams, or (1-2 words) the same closing words."""
    words = _WORD.findall(new.lower())
    if len(words) >= NGRAM:
        return ngram_overlap(new, old) >= threshold
    return bool(words) and _WORD.findall(old.lower())[-len(words):] == words


def suspect(result: ChunkText, prompt: str, guards: DecodeGuards) -> str | None:
    """Why a decoded chunk should be decoded again, or None: it copies its prompt, loops, or is unlikely."""
    if not result.text.strip():
        return None  # silence, as the engine judged it: nothing to fix
    if prompt and ngram_overlap(result.text, prompt) >= guards.prompt_overlap:
        return "prompt copy"
    if result.compression_ratio > guards.max_compression_ratio:
        return "loop"
    if guards.min_avg_logprob is not None and result.avg_logprob < guards.min_avg_logprob:
        return "unlikely"
    return None


@dataclass(frozen=True)
class Timeline:
    """Where the pieces of a compacted block came from: piece k starts at ``compacted[k]`` in the compacted audio
    and at ``original[k]`` in the block, and lasts ``lengths[k]`` seconds."""

    compacted: tuple[float, ...]
    original: tuple[float, ...]
    lengths: tuple[float, ...]

    def to_original(self, t: float) -> float:
        k = max(0, bisect.bisect_right(self.compacted, t) - 1)
        return self.original[k] + min(max(t - self.compacted[k], 0.0), self.lengths[k])

    def segment(self, seg: Segment, offset: float) -> Segment:
        """``seg``, decoded from the compacted audio placed at ``offset`` in the file, with its times in the file."""
        def moved(t: float) -> float:
            return round(self.to_original(t - offset) + offset, 3)
        words = tuple(replace(w, start=moved(w.start), end=moved(w.end)) for w in seg.words)
        return replace(seg, start=moved(seg.start), end=moved(seg.end), words=words)


def compact(audio: np.ndarray, spans: list[Span], kept: float = KEPT_SILENCE_SECONDS,
            ) -> tuple[np.ndarray, list[Span], Timeline]:
    """The block's speech with every silence longer than ``kept`` shortened to it (its middle cut out), the speech
    spans in the compacted audio, and the way back to the block's times."""
    seconds = len(audio) / SAMPLE_RATE
    regions: list[list[float]] = []
    for start, end in spans:
        lo, hi = max(0.0, start - kept / 2), min(seconds, end + kept / 2)
        if regions and lo <= regions[-1][1]:
            regions[-1][1] = max(regions[-1][1], hi)
        else:
            regions.append([lo, hi])
    compacted, original, lengths, pieces, position = [], [], [], [], 0.0
    for lo, hi in regions:
        first, last = int(lo * SAMPLE_RATE), int(hi * SAMPLE_RATE)
        compacted.append(position)
        original.append(first / SAMPLE_RATE)
        lengths.append((last - first) / SAMPLE_RATE)
        pieces.append(audio[first:last])
        position += (last - first) / SAMPLE_RATE
    timeline = Timeline(tuple(compacted), tuple(original), tuple(lengths))
    moved = []
    for start, end in spans:
        k = bisect.bisect_right(original, start) - 1
        shift = compacted[k] - original[k]
        # Not rounded: a span rounded up past the audio's last sample made faster-whisper's clip durations add up
        # to more than the audio (an assertion error on every clip transcribed without VAD whose length rounds up).
        moved.append((start + shift, min(end + shift, position)))
    joined = pieces[0] if len(pieces) == 1 else np.concatenate(pieces) if pieces else audio[:0]  # one: a view
    return joined, moved, timeline


class TranscriptionRun:
    """A transcription in progress: ``info`` is known at once; iterate to get segments as they are decoded."""

    def __init__(self, engine_use: AbstractContextManager[ASREngine], source: AudioSource,
                 options: TranscribeOptions, model_name: str, cancel: threading.Event | None = None,
                 on_progress: ProgressCallback | None = None, on_speech: SpeechCallback | None = None) -> None:
        self.options = options
        self.on_speech = on_speech
        self.cancel = cancel or threading.Event()
        self.on_progress = on_progress
        self.position = 0.0
        self.segments: list[Segment] = []
        self.total = probe_duration(source) if _seekable(source) else None
        self._engine_use = engine_use
        self.engine = engine_use.__enter__()
        self._closed = False
        try:
            self._blocks = _with_last(iter_blocks(source, options.block_seconds, FIRST_BLOCK_SECONDS))
            self._pending = self._first_speech_block()
            language, probability = self._language()
        except BaseException:
            self.close()
            raise
        self._segments = self._generate()  # one generator: iterating again continues, never restarts
        self._conditioned = options.conditions(language)
        self.info = TranscriptInfo(language=language, language_probability=round(probability, 4),
                                   duration=self.total or 0.0, model=model_name, task=options.task)

    # -- iteration ------------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Segment]:
        return self._segments

    def _generate(self) -> Iterator[Segment]:
        try:
            block, self._pending = self._pending, None
            while block is not None:
                audio, offset, spans, is_last = block
                del block  # the block's audio is let go once compacted: one copy of it in memory, not two
                if self.on_speech is not None:
                    self.on_speech(audio, spans, offset)
                end = offset + len(audio) / SAMPLE_RATE
                compacted, moved, timeline = compact(audio, spans)
                del audio
                for seg in self._decode_compacted(compacted, offset, moved):
                    seg = replace(timeline.segment(seg, offset), id=len(self.segments))
                    self._check_cancel()
                    self.segments.append(seg)
                    yield seg
                    self._progress(seg.end)
                del compacted
                self._progress(end)
                block = None if is_last else self._first_speech_block()
            self.total = self.position
        finally:
            self.close()

    def _decode_compacted(self, audio: np.ndarray, offset: float, spans: list[Span]) -> Iterator[Segment]:
        """Decode a block whose silences were shortened: times come out as ``offset`` + compacted seconds."""
        chunks = group_spans(spans)
        while chunks:
            size = self._next_batch_size()
            batch, chunks = chunks[:size], chunks[size:]
            self._check_cancel()
            prompted = self._with_context()
            results = list(self.engine.decode_chunks(audio, batch, self.info.language, prompted, offset))
            if self.options.guards.redecode_suspect:
                context = prompted.initial_prompt if prompted is not self.options else None
                results = self._redecode_suspects(audio, offset, results, context or "")
            latest = results
            for _ in range(MAX_RESUME_PASSES if self.options.guards.resume_incomplete else 0):
                # only the latest pass can still be incomplete
                latest, results = self._redecode_incomplete(audio, offset, spans, latest, results)
                if not latest:
                    break
            # by time, not by chunk: a re-decoded piece of skipped speech lies inside its chunk's span
            yield from sorted((seg for chunk in results for seg in chunk_segments(chunk)), key=lambda s: s.start)

    def _with_context(self) -> TranscribeOptions:
        """The options, prompted with the end of the text decoded so far when conditioning is on. Re-decodes of
        incomplete chunks go without: a prompt that ends mid-sentence would invite repeating it."""
        if not self._conditioned:
            return self.options
        history = "".join(s.text for s in self.segments[-CONTEXT_SEGMENTS:])
        if self.options.initial_prompt:  # the user's prompt comes first and gives way as text accumulates
            history = " " + self.options.initial_prompt.strip() + history
        previous = history[-CONTEXT_CHARS:].strip()
        return replace(self.options, initial_prompt=" " + previous) if previous else self.options

    def _redecode_suspects(self, audio: np.ndarray, offset: float, results: list[ChunkText],
                           prompt: str) -> list[ChunkText]:
        """Decode again the chunks that copy their prompt, loop or are unlikely: first without the previous-text
        prompt, then at each fallback temperature (sequential Whisper's rule). A chunk still bad after every try
        keeps its most likely unprompted decode."""
        guards = self.options.guards
        bad = {i: r for i, r in enumerate(results) if suspect(r, prompt, guards)}
        if not bad:
            return results
        log.debug("re-decoding %d of %d chunks: %s", len(bad), len(results),
                  [suspect(r, prompt, guards) for r in bad.values()])
        tries: dict[int, list[ChunkText]] = {i: [] for i in bad}
        fixed: dict[int, ChunkText] = {}
        for temperature in (self.options.temperature, *guards.fallback_temperatures):
            todo = [i for i in bad if i not in fixed]
            if not todo:
                break
            self._check_cancel()
            options = replace(self.options, temperature=temperature)
            spans = [(results[i].span[0] - offset, results[i].span[1] - offset) for i in todo]
            redone_all = self.engine.decode_chunks(audio, spans, self.info.language, options, offset)
            for i, redone in zip(todo, redone_all, strict=True):
                tries[i].append(redone)
                if not suspect(redone, "", guards):
                    fixed[i] = redone
        for i in bad:
            if i not in fixed:
                fixed[i] = max(tries[i], key=lambda r: r.avg_logprob)
        return [fixed.get(i, r) for i, r in enumerate(results)]

    def _redecode_incomplete(self, audio: np.ndarray, offset: float, spans: list[Span], latest: list[ChunkText],
                             results: list[ChunkText]) -> tuple[list[ChunkText], list[ChunkText]]:
        """Decode again what ``latest`` missed: sparse chunks in halves, and undecoded tails.

        Returns the new results and the updated full list (a sparse chunk is replaced by its parts when
        they hold more text)."""
        # A sparse chunk that no longer splits (one piece of speech, or a part already split) is checked for an
        # undecoded tail like any other: held-out-2 shuffled English, a 3-s phrase then another voice's 8-s phrase
        # came back as the first phrase alone, twice (whole, then as a half), and the 8 s were lost.
        parts = {id(r): split_chunk(r, spans, offset) for r in latest if too_sparse(r, spans, offset)}
        sparse = [r for r in latest if len(parts.get(id(r), ())) > 1]
        complete = [r for r in latest if not any(r is s for s in sparse)]
        tails = undecoded_tails(complete, spans, offset)
        if self.options.guards.redecode_skipped:
            tails += skipped_speech(complete, spans, offset)
        todo = [span for r in sparse for span in parts[id(r)]] + tails
        if not todo:
            return [], results
        decoded = list(self.engine.decode_chunks(audio, todo, self.info.language, self.options, offset))
        if self.options.guards.drop_repeated_redecodes:  # sparse chunks' parts replace them; tails add to them
            parts_done = len(todo) - len(tails)
            decoded = decoded[:parts_done] + [d for d in decoded[parts_done:] if not self._already_said(d, results)]
        replaced = []
        for r in sparse:
            own = [d for d in decoded if r.span[0] <= d.span[0] < r.span[1]]
            if sum(len(d.text.strip()) for d in own) > len(r.text.strip()):
                replaced.append(r)
            else:
                decoded = [d for d in decoded if not any(d is o for o in own)]
        results = [r for r in results if not any(r is x for x in replaced)] + decoded
        return decoded, results

    def _already_said(self, redone: ChunkText, results: list[ChunkText]) -> bool:
        """A re-decoded piece that repeats the text of the chunks around it: their words were timed too early
        (noise, music), so the "missing" speech was in fact transcribed. Keeping it writes the passage twice."""
        nearby = " ".join(r.text for r in sorted(results, key=lambda r: r.span[0])
                          if r.span[0] < redone.span[1] and r.span[1] > redone.span[0] - WINDOW_SECONDS
                          and r is not redone)
        return repeats(redone.text, nearby, self.options.guards.prompt_overlap)

    def _next_batch_size(self) -> int:
        # Small first batches put the first segments on screen quickly; full batches are faster after that.
        limit = min(self.options.batch_size, CONTEXT_BATCH_SIZE) if self._conditioned else self.options.batch_size
        size = min(RAMP_UP_BATCHES[self._batches_done], limit) if self._batches_done < len(RAMP_UP_BATCHES) else limit
        self._batches_done += 1
        return size

    def result(self) -> Transcript:
        """The whole transcript (finishing the iteration if the caller has not)."""
        for _ in self:
            pass
        info = replace(self.info, duration=round(self.position, 3))
        return Transcript.from_segments(info, list(self.segments))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._engine_use.__exit__(None, None, None)

    # -- internals ------------------------------------------------------------------------------------
    _carry = np.zeros(0, np.float32)
    _carry_offset = 0.0
    _batches_done = 0

    def _split_block(self, block: np.ndarray, is_last: bool) -> tuple[np.ndarray, float, list[Span], bool]:
        """Join the carried audio, find speech, and carry speech that may continue into the next block."""
        audio = np.concatenate([self._carry, block]) if len(self._carry) else block
        offset = self._carry_offset
        seconds = len(audio) / SAMPLE_RATE
        spans = speech_spans(audio) if self.options.vad else fixed_windows(seconds)
        self._carry, self._carry_offset = np.zeros(0, np.float32), offset + seconds
        if not is_last and spans and spans[-1][1] > seconds - CARRY_MARGIN_SECONDS and spans[-1][0] > 0:
            cut = spans.pop()[0]
            cut_sample = int(cut * SAMPLE_RATE)
            self._carry, self._carry_offset = audio[cut_sample:].copy(), offset + cut_sample / SAMPLE_RATE
            audio = audio[:cut_sample]
        return audio, offset, spans, is_last

    def _first_speech_block(self) -> tuple[np.ndarray, float, list[Span], bool] | None:
        for block, is_last in self._blocks:
            self._check_cancel()
            split = self._split_block(block, is_last)
            if split[2] or is_last:
                return split
            self._progress(split[1] + len(split[0]) / SAMPLE_RATE)  # silence only: nothing to decode
        return None

    def _language(self) -> tuple[str, float]:
        if self.options.language:
            return self.options.language, 1.0
        if self._pending is None or not self._pending[2]:
            return "en", 0.0  # no speech anywhere: nothing to detect
        audio, _, spans, _ = self._pending
        first = group_spans(spans)[0]
        speech = np.concatenate([audio[int(s * SAMPLE_RATE):int(e * SAMPLE_RATE)] for s, e in spans
                                 if s < first[0] + WINDOW_SECONDS])[: int(WINDOW_SECONDS * SAMPLE_RATE)]
        return self.engine.detect_language(speech)

    def _check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("transcription cancelled")

    def _progress(self, position: float) -> None:
        self.position = max(self.position, position)
        if self.on_progress:
            self.on_progress(self.position, self.total)


def _with_last(blocks: Iterator[np.ndarray]) -> Iterator[tuple[np.ndarray, bool]]:
    previous = next(blocks, None)
    for block in blocks:
        yield previous, False  # type: ignore[misc]
        previous = block
    if previous is not None:
        yield previous, True


def _seekable(source: AudioSource) -> bool:
    if isinstance(source, (bytes, bytearray, np.ndarray, str)) or hasattr(source, "__fspath__"):
        return True
    try:
        return bool(source.seekable())
    except (AttributeError, OSError):
        return False
