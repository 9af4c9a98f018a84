"""Speakers on a transcript: every word takes the speaker it overlaps most, and a segment is split where the
speaker changes between its words. Segments without word timings take the speaker of most of their span."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import replace

from habla.asr.types import Segment, Transcript, Word, compression_ratio, words_logprob
from habla.diarize.protocol import SpeakerTurn


class _Turns:
    """Speaker turns sorted by start, with overlap and nearest-turn queries."""

    def __init__(self, turns: Sequence[SpeakerTurn]) -> None:
        self.turns = sorted(turns, key=lambda t: t.start)
        self.starts = [t.start for t in self.turns]

    def speaker(self, start: float, end: float) -> str | None:
        if not self.turns:
            return None
        totals: dict[str, float] = {}
        first = max(0, bisect.bisect_right(self.starts, start) - 1)
        # Turns may overlap (overlapping speech), so look back over a few earlier ones too.
        for turn in self.turns[max(0, first - 3):bisect.bisect_right(self.starts, end) + 1]:
            overlap = min(end, turn.end) - max(start, turn.start)
            if overlap > 0:
                totals[turn.speaker] = totals.get(turn.speaker, 0.0) + overlap
        if totals:
            return max(totals, key=lambda s: totals[s])
        return self._nearest((start + end) / 2)

    def _nearest(self, t: float) -> str:
        i = bisect.bisect_left(self.starts, t)
        near = self.turns[max(0, i - 2):i + 1]
        return min(near, key=lambda turn: max(turn.start - t, t - turn.end, 0.0)).speaker


def assign_speakers(transcript: Transcript, turns: Sequence[SpeakerTurn]) -> Transcript:
    """A copy of ``transcript`` with ``speaker`` on segments and words, segments split at speaker changes."""
    index = _Turns(turns)
    segments: list[Segment] = []
    for segment in transcript.segments:
        for piece in _split(segment, index):
            segments.append(replace(piece, id=len(segments)))
    return replace(transcript, segments=segments)


def _split(segment: Segment, index: _Turns) -> list[Segment]:
    if not segment.words:
        return [replace(segment, speaker=index.speaker(segment.start, segment.end))]
    words = [replace(w, speaker=index.speaker(w.start, max(w.end, w.start + 0.01))) for w in segment.words]
    runs: list[list[Word]] = []
    for word in words:
        if runs and runs[-1][-1].speaker == word.speaker:
            runs[-1].append(word)
        else:
            runs.append([word])
    if len(runs) == 1:
        return [replace(segment, words=tuple(words), speaker=words[0].speaker)]
    pieces = []
    for i, run in enumerate(runs):
        start = segment.start if i == 0 else run[0].start
        end = segment.end if i == len(runs) - 1 else run[-1].end
        text = "".join(w.word for w in run)
        # A piece's tokens and log-probability are its words' own (none when the words do not carry them).
        tokens, avg_logprob = words_logprob(run)
        pieces.append(replace(segment, start=start, end=max(end, start), text=text, words=tuple(run), tokens=tokens,
                              avg_logprob=avg_logprob, compression_ratio=compression_ratio(text),
                              speaker=run[0].speaker))
    return pieces


def speaker_turns(transcript: Transcript) -> list[SpeakerTurn]:
    """Consecutive segments of one speaker as turns (what the rttm writer and txt paragraphs show)."""
    turns: list[SpeakerTurn] = []
    for segment in transcript.segments:
        if segment.speaker is None:
            continue
        if turns and turns[-1].speaker == segment.speaker:
            turns[-1] = SpeakerTurn(turns[-1].start, max(turns[-1].end, segment.end), segment.speaker)
        else:
            turns.append(SpeakerTurn(segment.start, segment.end, segment.speaker))
    return turns
