"""Transcript writers on hand-built transcripts: exact timestamps, cue splitting, escaping, round-trips."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from habla.asr.types import Segment, Transcript, Word
from habla.errors import InvalidOption
from habla.formats import (FORMATS, WriterOptions, format_timestamp, get_writer, render, to_milliseconds,
                           verbose_line, write_files)

SPANISH = " ¿Qué tal? El niño comió piñas en la mañana."
LONG = (" Esta es una frase bastante larga que no cabe en una sola línea de subtítulos"
        " y tampoco en dos líneas, así que hay que partirla en varias tarjetas.")


def make(*segments: Segment, language: str = "es") -> Transcript:
    return Transcript(text="".join(s.text for s in segments).strip(), language=language, language_probability=0.98,
                      duration=segments[-1].end if segments else 0.0, segments=list(segments), model="base")


def words_for(text: str, start: float, step: float) -> tuple[Word, ...]:
    return tuple(Word(start + i * step, start + (i + 1) * step - 0.05, f" {w}", 0.9)
                 for i, w in enumerate(text.split()))


def cue_blocks(srt: str) -> list[tuple[str, list[str]]]:
    """(timing line, text lines) for each cue in an SRT file."""
    blocks = [b.split("\n") for b in srt.strip("\n").split("\n\n")]
    return [(b[1], b[2:]) for b in blocks]


EMPTY = make()
TWO = make(Segment(0, 0.0, 4.0, " Hola a todos."), Segment(1, 4.0, 3725.5, SPANISH, tokens=(50364, 1234),
                                                      avg_logprob=-0.3, no_speech_prob=0.02))


# --- timestamps ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("seconds", "hours", "marker", "expected"), [
    (0, False, ".", "00:00.000"),
    (0, True, ",", "00:00:00,000"),
    (59.9995, False, ".", "01:00.000"),
    (59.9994, False, ".", "00:59.999"),
    (3600.5, False, ".", "01:00:00.500"),
    (3600.5, True, ",", "01:00:00,500"),
    (0.0025, False, ".", "00:00.003"),  # half up, not to even
    (1.1, False, ".", "00:01.100"),
    (4.0, False, ".", "00:04.000"),
    (-0.0001, False, ".", "00:00.000"),
    (360000.0, True, ",", "100:00:00,000"),
])
def test_format_timestamp_is_exact(seconds: float, hours: bool, marker: str, expected: str) -> None:
    assert format_timestamp(seconds, always_include_hours=hours, decimal_marker=marker) == expected


def test_milliseconds_avoid_float_drift() -> None:
    assert to_milliseconds(0.1 + 0.2) == 300
    assert to_milliseconds(2.675) == 2675
    assert to_milliseconds(-3) == 0


def test_non_finite_timestamp_is_rejected() -> None:
    with pytest.raises(InvalidOption):
        format_timestamp(float("nan"))


def test_verbose_line_shows_hours_only_past_one_hour() -> None:
    assert verbose_line(Segment(0, 0.0, 4.0, " Hola.")) == "[00:00.000 --> 00:04.000] Hola."
    assert verbose_line(Segment(0, 3599.0, 3600.5, " Fin.")) == "[59:59.000 --> 01:00:00.500] Fin."


# --- each format -----------------------------------------------------------------------------------------------

def test_txt_has_one_stripped_segment_per_line() -> None:
    assert render(TWO, "txt") == "Hola a todos.\n¿Qué tal? El niño comió piñas en la mañana.\n"


def test_srt_numbers_cues_with_comma_times() -> None:
    assert render(TWO, "srt") == (
        "1\n00:00:00,000 --> 00:00:04,000\nHola a todos.\n\n"
        "2\n00:00:04,000 --> 01:02:05,500\n¿Qué tal? El niño comió piñas en la\nmañana.\n\n"
    )


def test_vtt_has_header_and_short_times_below_one_hour() -> None:
    assert render(TWO, "vtt") == (
        "WEBVTT\n\n"
        "00:00.000 --> 00:04.000\nHola a todos.\n\n"
        "00:04.000 --> 01:02:05.500\n¿Qué tal? El niño comió piñas en la\nmañana.\n\n"
    )


def test_tsv_uses_integer_milliseconds() -> None:
    assert render(TWO, "tsv") == (
        "start\tend\ttext\n0\t4000\tHola a todos.\n4000\t3725500\t¿Qué tal? El niño comió piñas en la mañana.\n"
    )


def test_tsv_replaces_tabs_and_newlines() -> None:
    out = render(make(Segment(0, 0.0, 1.0, " uno\tdos\ntres\r\ncuatro")), "tsv")
    assert out.splitlines()[1] == "0\t1000\tuno dos tres cuatro"
    assert len(out.splitlines()) == 2


def test_json_has_whisper_shape_and_keeps_utf8() -> None:
    out = render(TWO, "json")
    assert "¿Qué tal? El niño" in out  # ensure_ascii=False
    data = json.loads(out)
    assert list(data)[:3] == ["text", "segments", "language"]
    assert {"language_probability", "duration", "model", "task"} <= set(data)
    assert list(data["segments"][1]) == ["id", "seek", "start", "end", "text", "tokens", "temperature",
                                         "avg_logprob", "compression_ratio", "no_speech_prob"]
    assert data["segments"][1]["tokens"] == [50364, 1234]
    assert data["segments"][1]["seek"] == 400


def test_json_leaves_out_the_figures_nothing_measured() -> None:
    data = json.loads(render(TWO, "json"))  # segment 0 was not decoded by Whisper: no log-probability to report
    assert "avg_logprob" not in data["segments"][0] and "no_speech_prob" not in data["segments"][0]
    assert data["segments"][1]["avg_logprob"] == -0.3


def test_json_round_trips_to_the_same_transcript() -> None:
    seg = Segment(0, 0.5, 2.25, " Buenos días, señora.", words=words_for("Buenos días, señora.", 0.5, 0.5),
                  avg_logprob=-0.25, no_speech_prob=0.01, compression_ratio=1.3, tokens=(1, 2, 3))
    original = make(seg, Segment(1, 2.25, 3600.5, LONG, avg_logprob=-0.5))
    original.task = "translate"
    data = json.load(io.StringIO(render(original, "json", WriterOptions(word_timestamps=True))))
    assert "words" in data["segments"][0] and "words" not in data["segments"][1]
    assert Transcript.from_dict(data) == original


WORDY = make(Segment(0, 0.5, 2.25, " Buenos días, señora.", words=words_for("Buenos días, señora.", 0.5, 0.5)))


def test_word_timings_appear_only_when_asked() -> None:
    plain = {fmt: render(WORDY, fmt) for fmt in ("json", "srt", "vtt", "tsv")}
    asked = {fmt: render(WORDY, fmt, WriterOptions(word_timestamps=True)) for fmt in ("json", "srt", "vtt", "tsv")}
    assert "words" not in json.loads(plain["json"])["segments"][0]
    assert [w["word"] for w in json.loads(asked["json"])["segments"][0]["words"]] == [" Buenos", " días,", " señora."]
    assert "<u>" not in plain["srt"] + plain["vtt"] and len(plain["tsv"].splitlines()) == 2
    assert asked["tsv"].splitlines()[1:] == ["500\t950\tBuenos", "1000\t1450\tdías,", "1500\t1950\tseñora."]


def test_highlighted_cues_mark_each_word_in_turn() -> None:
    blocks = cue_blocks(render(WORDY, "srt", WriterOptions(word_timestamps=True)))
    assert [b[1] for b in blocks] == [["<u>Buenos</u> días, señora."], ["Buenos <u>días,</u> señora."],
                                      ["Buenos días, <u>señora.</u>"]]
    # each word's cue runs to the next word's start, so the highlight never blinks off between words
    assert [b[0] for b in blocks] == ["00:00:00,500 --> 00:00:01,000", "00:00:01,000 --> 00:00:01,500",
                                      "00:00:01,500 --> 00:00:01,950"]
    vtt = render(make(Segment(0, 0.0, 1.0, " a < b", words=words_for("a < b", 0.0, 0.3))), "vtt",
                 WriterOptions(word_timestamps=True))
    assert "<u>&lt;</u>" in vtt  # the text is escaped, the highlight markup is not


def test_spanish_text_is_untouched_in_every_format() -> None:
    for fmt in FORMATS:
        if fmt != "rttm":  # speaker turns only, no text
            assert "¿Qué tal? El niño comió piñas" in render(TWO, fmt), fmt


# --- subtitle cue splitting ------------------------------------------------------------------------------------

def assert_readable(srt: str, options: WriterOptions) -> None:
    for _, lines in cue_blocks(srt):
        assert 1 <= len(lines) <= options.max_line_count
        assert all(line and len(line) <= options.max_line_width for line in lines)


def test_long_segment_without_words_splits_proportionally() -> None:
    options = WriterOptions()
    srt = render(make(Segment(0, 10.0, 20.0, LONG)), "srt", options)
    blocks = cue_blocks(srt)
    assert len(blocks) == 2
    assert_readable(srt, options)
    assert " ".join(" ".join(lines) for _, lines in blocks) == LONG.strip()
    starts = [t.split(" --> ")[0] for t, _ in blocks]
    ends = [t.split(" --> ")[1] for t, _ in blocks]
    assert starts[0] == "00:00:10,000" and ends[-1] == "00:00:20,000"
    assert ends[0] == starts[1]  # cues tile the segment
    first_chars = len(" ".join(blocks[0][1])) + 1
    assert to_milliseconds(10 + 10 * first_chars / len(LONG.strip())) == to_milliseconds(
        float(ends[0].replace(",", ".").split(":")[-1]))


def test_long_segment_with_words_uses_word_times() -> None:
    words = words_for(LONG, 30.0, 0.4)
    srt = render(make(Segment(0, 30.0, 30.0 + 0.4 * len(words), LONG, words=words)), "srt")
    blocks = cue_blocks(srt)
    assert len(blocks) == 2
    assert_readable(srt, WriterOptions())
    first_count = len(" ".join(blocks[0][1]).split())
    assert blocks[0][0] == f"00:00:30,000 --> {format_timestamp(words[first_count - 1].end, True, ',')}"
    assert blocks[1][0].startswith(format_timestamp(words[first_count].start, True, ","))
    assert blocks[1][0].endswith(format_timestamp(words[-1].end, True, ","))


@pytest.mark.parametrize(("width", "count"), [(10, 1), (16, 2), (42, 3), (5, 2)])
def test_line_width_and_count_are_respected(width: int, count: int) -> None:
    options = WriterOptions(max_line_width=width, max_line_count=count)
    for words in ((), words_for(LONG, 0.0, 0.3)):
        srt = render(make(Segment(0, 0.0, 60.0, LONG, words=words)), "srt", options)
        assert_readable(srt, options)
        text = "".join("".join(lines) for _, lines in cue_blocks(srt))
        assert text.replace(" ", "") == LONG.replace(" ", "")


def test_unspaced_text_is_cut_to_the_line_width() -> None:
    options = WriterOptions(max_line_width=8, max_line_count=1)
    srt = render(make(Segment(0, 0.0, 2.0, "今日はとても良い天気ですね")), "srt", options)
    assert [lines for _, lines in cue_blocks(srt)] == [["今日はとても良い"], ["天気ですね"]]


def test_short_segment_keeps_segment_times_even_with_words() -> None:
    seg = Segment(0, 1.0, 3.0, " Hola.", words=(Word(1.2, 1.8, " Hola.", 0.9),))
    assert render(make(seg), "vtt") == "WEBVTT\n\n00:01.000 --> 00:03.000\nHola.\n\n"


def test_blank_segments_never_make_empty_cues() -> None:
    transcript = make(Segment(0, 0.0, 1.0, "   "), Segment(1, 1.0, 2.0, " Sí."), Segment(2, 2.0, 3.0, ""))
    assert render(transcript, "srt") == "1\n00:00:01,000 --> 00:00:02,000\nSí.\n\n"
    assert render(transcript, "txt") == "Sí.\n"


def test_cue_text_cannot_break_subtitle_syntax() -> None:
    transcript = make(Segment(0, 0.0, 1.0, " a --> b & <c>"))
    assert "a -> b & <c>" in render(transcript, "srt")
    assert "a -&gt; b &amp; &lt;c&gt;" in render(transcript, "vtt")


def test_bad_writer_options_are_rejected() -> None:
    with pytest.raises(InvalidOption):
        WriterOptions(max_line_width=0)


# --- empty transcript, registry, files -------------------------------------------------------------------------

def test_empty_transcript_writes_valid_empty_files() -> None:
    assert render(EMPTY, "txt") == ""
    assert render(EMPTY, "srt") == ""
    assert render(EMPTY, "vtt") == "WEBVTT\n\n"
    assert render(EMPTY, "tsv") == "start\tend\ttext\n"
    assert Transcript.from_dict(json.loads(render(EMPTY, "json"))) == EMPTY


def test_formats_are_listed_in_order() -> None:
    assert FORMATS == ("txt", "vtt", "srt", "tsv", "json", "rttm")
    assert [get_writer(name).extension for name in FORMATS] == list(FORMATS)
    assert get_writer(".SRT").extension == "srt"


def test_unknown_format_names_the_valid_ones() -> None:
    with pytest.raises(InvalidOption, match=re.escape("txt, vtt, srt, tsv, json, rttm")):
        render(TWO, "docx")


def test_write_files_all_creates_dir_and_utf8_files(tmp_path: Path) -> None:
    out = tmp_path / "nested" / "out"
    paths = write_files(TWO, out, "charla", "all")
    assert [p.name for p in paths] == [f"charla.{ext}" for ext in FORMATS if ext != "rttm"]  # no speakers
    for path, fmt in zip(paths, FORMATS):
        assert path.read_bytes() == render(TWO, fmt).encode("utf-8")


def test_write_files_checks_every_name_before_writing(tmp_path: Path) -> None:
    with pytest.raises(InvalidOption):
        write_files(TWO, tmp_path, "charla", ["srt", "nope"])
    assert list(tmp_path.iterdir()) == []
    assert [p.name for p in write_files(TWO, tmp_path, "charla", ["srt", "srt", "json"])] == ["charla.srt",
                                                                                           "charla.json"]


def test_write_files_rejects_a_path_as_basename(tmp_path: Path) -> None:
    with pytest.raises(InvalidOption):
        write_files(TWO, tmp_path, "../charla", ["txt"])
