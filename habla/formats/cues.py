"""Subtitle cues for srt and vtt: segments wrapped to readable lines and split when they do not fit one cue."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from habla.asr.types import Segment, Transcript
from habla.formats.protocol import WriterOptions


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]
    speaker: str | None = None

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True)
class _Piece:
    """A word-like unit with its time span; ``spaced`` says whether a space separates it from the previous one."""

    text: str
    start: float
    end: float
    spaced: bool = True


# Marks around the word being said in a highlighted cue; each writer turns them into its own markup.
HIGHLIGHT_START, HIGHLIGHT_END = "\x01", "\x02"


def transcript_cues(transcript: Transcript, options: WriterOptions) -> list[Cue]:
    make = highlighted_cues if options.word_timestamps else segment_cues
    return [replace(cue, speaker=segment.speaker) if segment.speaker is not None else cue
            for segment in transcript.segments for cue in make(segment, options)]


def highlighted_cues(segment: Segment, options: WriterOptions) -> list[Cue]:
    """One cue per word, its text the word's whole cue with that word marked, from the word's start to the next
    word's start (openai-whisper's --highlight_words). A segment without word timings keeps its plain cues."""
    pieces = _word_pieces(segment, options.max_line_width)
    if not pieces:
        return segment_cues(segment, options)
    cues = []
    for group in _chunks(_wrap(pieces, options.max_line_width), options.max_line_count):
        flat = [p for line in group for p in line]
        for i, said in enumerate(flat):
            end = flat[i + 1].start if i + 1 < len(flat) else said.end
            marked = [[_Piece(HIGHLIGHT_START + p.text + HIGHLIGHT_END, p.start, p.end, p.spaced) if p is said
                       else p for p in line] for line in group]
            cues.append(_cue(marked, said.start, end))
    return cues


def segment_cues(segment: Segment, options: WriterOptions) -> list[Cue]:
    """One cue when the text fits, else several: timed by words when known, else proportionally by characters."""
    width, count = options.max_line_width, options.max_line_count
    text_pieces = _text_pieces(segment, width)
    if not text_pieces:
        return []
    lines = _wrap(text_pieces, width)
    if len(lines) <= count:
        return [_cue(lines, segment.start, segment.end)]
    pieces = _word_pieces(segment, width) or text_pieces
    lines = _wrap(pieces, width)
    return [_cue(group, group[0][0].start, group[-1][-1].end) for group in _chunks(lines, count)]


def _text_pieces(segment: Segment, width: int) -> list[_Piece]:
    """Whitespace-separated tokens; each owns its share of the segment up to the next token, so cues tile it."""
    text = segment.text.strip()
    spans = [m.span() for m in re.finditer(r"\S+", text)]
    duration = max(segment.end - segment.start, 0.0)

    def at(offset: int) -> float:
        return segment.start + duration * offset / len(text)

    pieces = []
    for i, (begin, end) in enumerate(spans):
        next_begin = spans[i + 1][0] if i + 1 < len(spans) else len(text)
        pieces.append(_Piece(text[begin:end], at(begin), at(next_begin)))
    return _fit(pieces, width)


def _word_pieces(segment: Segment, width: int) -> list[_Piece]:
    # Whisper words carry their leading space (" hola"); languages without spaces have none.
    pieces = [_Piece(w.word.strip(), w.start, max(w.end, w.start), w.word[:1].isspace())
              for w in segment.words if w.word.strip()]
    return _fit(pieces, width)


def _fit(pieces: Sequence[_Piece], width: int) -> list[_Piece]:
    """Cut pieces longer than a line (URLs, unspaced scripts) into line-sized chunks timed proportionally."""
    out: list[_Piece] = []
    for piece in pieces:
        if len(piece.text) <= width:
            out.append(piece)
            continue
        step = (piece.end - piece.start) / len(piece.text)
        for begin in range(0, len(piece.text), width):
            end = min(begin + width, len(piece.text))
            out.append(_Piece(piece.text[begin:end], piece.start + step * begin, piece.start + step * end,
                              piece.spaced and begin == 0))
    return out


def _wrap(pieces: Sequence[_Piece], width: int) -> list[list[_Piece]]:
    """Greedy fill: a piece goes on the current line unless that would pass ``width``."""
    lines: list[list[_Piece]] = []
    line: list[_Piece] = []
    used = 0
    for piece in pieces:
        extra = len(piece.text) + (1 if line and piece.spaced else 0)
        if line and used + extra > width:
            lines.append(line)
            line, used, extra = [], 0, len(piece.text)
        line.append(piece)
        used += extra
    if line:
        lines.append(line)
    return lines


def _chunks(lines: list[list[_Piece]], count: int) -> Iterator[list[list[_Piece]]]:
    for i in range(0, len(lines), count):
        yield lines[i:i + count]


def _cue(lines: list[list[_Piece]], start: float, end: float) -> Cue:
    return Cue(start, max(end, start), tuple(_join(line) for line in lines))


def _join(line: list[_Piece]) -> str:
    text = "".join((" " if i and p.spaced else "") + p.text for i, p in enumerate(line))
    # "-->" inside cue text would be read as a timing line by subtitle parsers.
    return text.replace("-->", "->")
