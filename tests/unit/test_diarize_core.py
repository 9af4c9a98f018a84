"""Diarization pieces without a model: DER, RTTM, clustering, speaker naming, speakers on transcripts/writers."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from habla.asr.types import Segment, Transcript, Word
from habla.diarize.assign import assign_speakers, speaker_turns
from habla.diarize.cluster import cluster_windows, speaker_clusters
from habla.diarize.der import diarization_error
from habla.diarize.pipeline import speech_windows
from habla.diarize.protocol import SpeakerOptions, SpeakerTurn
from habla.diarize.rttm import format_rttm, parse_rttm
from habla.diarize.service import name_speakers
from habla.errors import InvalidOption
from habla.formats import render
from habla.formats.protocol import WriterOptions

T = SpeakerTurn

# --- DER --------------------------------------------------------------------------------------------------------


def test_der_is_zero_for_a_relabelled_perfect_hypothesis() -> None:
    ref = [T(0, 5, "a"), T(5.5, 9, "b"), T(9, 12, "a")]
    hyp = [T(0, 5, "x"), T(5.5, 9, "y"), T(9, 12, "x")]
    assert diarization_error(ref, hyp, collar=0).der == 0


def test_der_counts_miss_false_alarm_and_confusion() -> None:
    ref = [T(0, 10, "a"), T(10, 20, "b")]
    # 0-8 right, 8-10 called b (confusion 2 s), 10-18 right, 18-20 missed, 20-23 false alarm.
    hyp = [T(0, 8, "A"), T(8, 18, "B"), T(20, 23, "B")]
    r = diarization_error(ref, hyp, collar=0)
    assert (r.reference, r.confusion, r.missed, r.false_alarm) == pytest.approx((20, 2, 2, 3))
    assert r.der == pytest.approx(7 / 20)


def test_der_collar_forgives_boundaries_on_both_sides() -> None:
    ref = [T(0, 10, "a"), T(10, 20, "b")]
    hyp = [T(0, 10.2, "A"), T(10.2, 20, "B")]
    assert diarization_error(ref, hyp, collar=0).der == pytest.approx(0.2 / 20)
    assert diarization_error(ref, hyp, collar=0.25).der == 0


def test_der_scores_overlap_per_speaker() -> None:
    ref = [T(0, 10, "a"), T(8, 12, "b")]  # 2 s of overlap: 14 s of reference speech
    hyp = [T(0, 10, "A"), T(10, 12, "B")]  # the overlapped b is missed
    r = diarization_error(ref, hyp, collar=0)
    assert r.reference == pytest.approx(14) and r.missed == pytest.approx(2) and r.confusion == 0


def test_der_maps_each_hypothesis_speaker_once() -> None:
    ref = [T(0, 10, "a"), T(10, 20, "b")]
    hyp = [T(0, 20, "A")]  # one speaker for two: half the speech is confusion
    assert diarization_error(ref, hyp, collar=0).der == pytest.approx(0.5)


# --- RTTM -------------------------------------------------------------------------------------------------------


def test_rttm_round_trips_and_names_without_spaces() -> None:
    turns = [T(0.5, 2.25, "SPEAKER_00"), T(2.5, 4.0, "Ana María")]
    text = format_rttm(turns, "call 1")
    assert text.splitlines()[0] == "SPEAKER call_1 1 0.500 1.750 <NA> <NA> SPEAKER_00 <NA> <NA>"
    assert parse_rttm(text) == {"call_1": [T(0.5, 2.25, "SPEAKER_00"), T(2.5, 4.0, "Ana_María")]}


def test_rttm_bad_line_is_a_clear_error() -> None:
    with pytest.raises(InvalidOption, match="line 1"):
        parse_rttm("SPEAKER f 1 zero 1.0 <NA> <NA> a <NA> <NA>\n")


# --- windows and clustering ---------------------------------------------------------------------------------------


def test_windows_cover_a_region_and_end_with_it() -> None:
    assert speech_windows((0.0, 1.0), 1.5, 0.75) == [(0.0, 1.0)]
    windows = speech_windows((2.0, 5.0), 1.5, 0.75)
    assert windows[0] == (2.0, 3.5) and windows[-1] == (3.5, 5.0)
    assert all(b[0] - a[0] <= 0.75 + 1e-9 for a, b in zip(windows, windows[1:]))


def _voices(counts: list[int], seed: int = 0, noise: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(counts), 192))
    rows = [c + noise * rng.normal(size=(n, 192)) for c, n in zip(centres, counts)]
    emb = np.concatenate(rows)
    truth = np.concatenate([np.full(n, i) for i, n in enumerate(counts)])
    return emb / np.linalg.norm(emb, axis=1, keepdims=True), truth


def test_clustering_finds_the_speaker_count_and_numbers_by_first_appearance() -> None:
    emb, truth = _voices([30, 20, 25])
    labels = cluster_windows(emb, np.full(len(emb), 0.75), 0.7, SpeakerOptions(), 2.0)
    assert labels[0] == 0 and len(set(labels.tolist())) == 3
    assert all(len(set(labels[truth == i].tolist())) == 1 for i in range(3))


def test_clustering_honours_a_given_count_and_bounds() -> None:
    emb, _ = _voices([30, 20, 25])
    seconds = np.full(len(emb), 0.75)
    assert len(set(cluster_windows(emb, seconds, 0.7, SpeakerOptions(speakers=2), 2.0).tolist())) == 2
    assert len(set(cluster_windows(emb, seconds, 0.7, SpeakerOptions(max_speakers=2), 2.0).tolist())) == 2
    assert len(set(cluster_windows(emb, seconds, 0.7, SpeakerOptions(min_speakers=4), 2.0).tolist())) == 4


def test_a_stray_cluster_joins_a_real_speaker() -> None:
    emb, _ = _voices([30, 30, 1])
    labels = cluster_windows(emb, np.full(len(emb), 0.75), 0.7, SpeakerOptions(), 2.0)
    assert len(set(labels.tolist())) == 2


def test_a_speaker_needs_two_consecutive_windows() -> None:
    labels = np.array([0, 0, 0, 1, 2, 1, 2, 1, 2, 2])
    follows = np.array([False, True, True, False, False, False, False, False, True, True])
    seconds = np.full(len(labels), 1.5)
    # Cluster 1 has 4.5 s but never two windows in a row; cluster 2 has both; most speech first.
    assert speaker_clusters(labels, seconds, 3.0, follows).tolist() == [2, 0]
    assert speaker_clusters(labels, seconds, 3.0).tolist() == [2, 0, 1]
    assert speaker_clusters(labels, seconds, 5.0, follows).tolist() == [2]


def test_speaker_rules_relax_rather_than_find_nobody() -> None:
    labels = np.array([0, 1, 0, 1, 1])
    alone = np.zeros(len(labels), dtype=bool)  # every window its own short speech region
    assert speaker_clusters(labels, np.full(5, 1.5), 2.0, alone).tolist() == [1, 0]
    assert speaker_clusters(labels, np.full(5, 1.5), 60.0, alone).tolist() == [1]


def test_windows_of_mixed_speech_scattered_over_turns_are_no_speaker() -> None:
    """Turns of two voices, and between them single windows of a third direction (speech straddling a turn
    change): without knowing which windows are consecutive they look like a third speaker; with it they fold."""
    emb, truth = _voices([12, 12, 6], seed=3, noise=0.2)
    order = np.concatenate([np.arange(0, 6), [24], np.arange(12, 18), [25], np.arange(6, 12), [26],
                            np.arange(18, 24), [27, 28, 29]])
    emb, truth = emb[order], truth[order]
    follows = np.ones(len(emb), dtype=bool)
    follows[(truth == 2) | np.r_[False, truth[:-1] == 2]] = False  # a mixed window is a region of its own
    follows[0] = False
    seconds = np.full(len(emb), 1.5)
    assert len(set(cluster_windows(emb, seconds, 0.7, SpeakerOptions(), 5.0).tolist())) == 3
    labels = cluster_windows(emb, seconds, 0.7, SpeakerOptions(), 5.0, follows=follows)
    assert len(set(labels.tolist())) == 2
    assert all(len(set(labels[truth == i].tolist())) == 1 for i in range(2))


def test_speaker_options_reject_impossible_bounds() -> None:
    with pytest.raises(InvalidOption):
        SpeakerOptions(min_speakers=3, max_speakers=2)
    with pytest.raises(InvalidOption):
        SpeakerOptions(speakers=0)


def test_known_speakers_take_names_above_the_threshold_once_each() -> None:
    centroids = np.eye(3)
    references = np.array([[0.1, 0.9, 0.0], [0.0, 0.95, 0.1], [0.0, 0.0, 0.2]])
    references /= np.linalg.norm(references, axis=1, keepdims=True)
    names = name_speakers(centroids, references, ["ana", "bea", "carla"], 0.5)
    # bea is the closer of the two to speaker 1; ana may not take it too; carla's clip matches speaker 2.
    assert names == ["SPEAKER_00", "bea", "carla"]


# --- speakers on transcripts and in writers ----------------------------------------------------------------------

WORDS = (Word(0.0, 0.4, " Hola,", 0.9), Word(0.5, 0.9, " Ana.", 0.9), Word(1.3, 1.6, " Hola,", 0.9),
         Word(1.7, 2.2, " Luis.", 0.9))
TURNS = [T(0.0, 1.0, "SPEAKER_00"), T(1.2, 2.4, "SPEAKER_01")]


def diarized() -> Transcript:
    segments = [Segment(0, 0.0, 2.3, " Hola, Ana. Hola, Luis.", WORDS, tokens=(1, 2)), Segment(1, 2.5, 3.5, " Adiós.")]
    transcript = Transcript(text="Hola, Ana. Hola, Luis. Adiós.", language="es", language_probability=1.0,
                            duration=4.0, segments=segments)
    return assign_speakers(transcript, TURNS)


def test_segments_split_where_the_speaker_changes() -> None:
    segments = diarized().segments
    assert [(s.id, s.start, s.end, s.text, s.speaker) for s in segments] == [
        (0, 0.0, 0.9, " Hola, Ana.", "SPEAKER_00"), (1, 1.3, 2.3, " Hola, Luis.", "SPEAKER_01"),
        (2, 2.5, 3.5, " Adiós.", "SPEAKER_01")]  # no words: the nearest turn
    assert [w.speaker for w in segments[0].words] == ["SPEAKER_00"] * 2
    assert segments[0].tokens == ()


def test_every_writer_shows_speakers() -> None:
    transcript = diarized()
    data = json.load(io.StringIO(render(transcript, "json", WriterOptions(word_timestamps=True))))
    assert [s["speaker"] for s in data["segments"]] == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_01"]
    assert data["segments"][0]["words"][0]["speaker"] == "SPEAKER_00"
    assert "words" not in json.loads(render(transcript, "json"))["segments"][0]  # words only when asked
    assert Transcript.from_dict(data) == transcript
    assert "00:00.000 --> 00:00.900\n<v SPEAKER_00>Hola, Ana." in render(transcript, "vtt")
    assert "00:00:01,300 --> 00:00:02,300\nSPEAKER_01: Hola, Luis." in render(transcript, "srt")
    assert render(transcript, "txt") == "SPEAKER_00: Hola, Ana.\n\nSPEAKER_01: Hola, Luis. Adiós.\n"
    assert render(transcript, "tsv").splitlines()[:2] == ["start\tend\tspeaker\ttext", "0\t900\tSPEAKER_00\tHola, Ana."]
    assert render(transcript, "rttm").splitlines() == [
        "SPEAKER audio 1 0.000 0.900 <NA> <NA> SPEAKER_00 <NA> <NA>",
        "SPEAKER audio 1 1.300 2.200 <NA> <NA> SPEAKER_01 <NA> <NA>"]
    assert speaker_turns(transcript)[1] == T(1.3, 3.5, "SPEAKER_01")


def test_vtt_escapes_a_speaker_name() -> None:
    transcript = assign_speakers(diarized(), [T(0.0, 4.0, "Tom & <Jerry>")])
    assert "<v Tom &amp; &lt;Jerry&gt;>" in render(transcript, "vtt")


def test_plain_transcripts_are_unchanged() -> None:
    transcript = Transcript(text="Hola.", language="es", language_probability=1.0, duration=1.0,
                            segments=[Segment(0, 0.0, 1.0, " Hola.")])
    assert render(transcript, "txt") == "Hola.\n"
    assert render(transcript, "tsv") == "start\tend\ttext\n0\t1000\tHola.\n"
    assert render(transcript, "rttm") == ""
    assert "speaker" not in render(transcript, "json")


def test_all_formats_include_rttm_only_with_speakers(tmp_path) -> None:
    from habla.formats import write_files

    plain = Transcript(text="Hola.", language="es", language_probability=1.0, duration=1.0,
                       segments=[Segment(0, 0.0, 1.0, " Hola.")])
    assert "x.rttm" not in [p.name for p in write_files(plain, tmp_path, "x", "all")]
    assert (tmp_path / "y.rttm") in write_files(diarized(), tmp_path, "y", "all")


class _ToneMaterial:
    """Material without audio files: every utterance is a short tone."""

    def choices(self, voice: str, half: int) -> list[str]:
        return [f"{voice}-{half}-{i}" for i in range(3)]

    def utterance(self, voice: str, item: str) -> np.ndarray:
        return (0.05 * np.sin(np.arange(8000) / 8)).astype(np.float32)


def test_the_voices_split_holds_only_voices_tuning_never_used() -> None:
    from habla.diarize.corpus import VOICES, conversation_set

    talks = conversation_set(_ToneMaterial(), "voices")  # type: ignore[arg-type]
    assert sorted(t.speakers for t in talks) == [2] * 5 + [3] * 5 + [4] * 5
    used = {turn.speaker for t in talks for turn in t.turns}
    assert used and not used & set(VOICES)
    tuning = {turn.speaker for t in conversation_set(_ToneMaterial(), "tune") for turn in t.turns}  # type: ignore[arg-type]
    assert tuning <= set(VOICES)
    with pytest.raises(ValueError, match="unknown split"):
        conversation_set(_ToneMaterial(), "voice")  # type: ignore[arg-type]


def test_the_voice_splits_share_no_voice_and_held_out_splits_no_material() -> None:
    from habla.diarize.corpus import SPLIT_DEFINITIONS, TUNING_SPLITS, conversation_set

    voices = {name: {turn.speaker for t in conversation_set(_ToneMaterial(), name)  # type: ignore[arg-type]
                     for turn in t.turns} for name in ("voices", "voices-tune", "voices-2")}
    assert voices["voices-2"] and not voices["voices-2"] & (voices["voices"] | voices["voices-tune"])
    assert not voices["voices-tune"] & voices["voices"]
    tuned_on = {v for name in TUNING_SPLITS for v in SPLIT_DEFINITIONS[name].pool}
    assert not voices["voices-2"] & tuned_on
    assert {SPLIT_DEFINITIONS[name].half for name in TUNING_SPLITS} == {0}
    assert SPLIT_DEFINITIONS["voices-2"].half == 1
    talks = conversation_set(_ToneMaterial(), "voices-2")  # type: ignore[arg-type]
    assert sorted(t.speakers for t in talks) == [2] * 10 + [3] * 10 + [4] * 10


class _LevelEmbedder:
    """A stand-in embedder: a piece's embedding says how loud it is (two "voices": quiet and loud)."""

    name = "level"
    dimension = 2

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def embed(self, pieces: list[np.ndarray]) -> np.ndarray:
        if self.fail:
            raise RuntimeError("embedder broke")
        loud = np.array([float(np.abs(p).mean() > 0.2) for p in pieces])
        return np.stack([1 - loud, loud], axis=1).astype(np.float32)


def _two_voice_blocks() -> list[tuple[np.ndarray, list[tuple[float, float]], float]]:
    quiet, loud = np.full(16000 * 10, 0.1, np.float32), np.full(16000 * 10, 0.5, np.float32)
    return [(np.concatenate([quiet, loud]), [(0.0, 9.0), (10.0, 19.0)], 0.0),
            (np.concatenate([loud, quiet]), [(0.0, 9.0), (10.0, 19.0)], 20.0)]


@pytest.mark.parametrize("background", [False, True])
def test_background_embedding_gives_the_same_turns_as_inline(background: bool) -> None:
    from habla.config import DiarizeSettings
    from habla.diarize.pipeline import Diarization

    run = Diarization(_LevelEmbedder(), DiarizeSettings(background=background))  # type: ignore[arg-type]
    for audio, speech, offset in _two_voice_blocks():
        run.add(audio, speech, offset)
    assert [(t.start, t.end, t.speaker) for t in run.turns(SpeakerOptions(max_speakers=4))] == [
        (0.0, 9.0, "SPEAKER_00"), (10.0, 19.0, "SPEAKER_01"), (20.0, 29.0, "SPEAKER_01"), (30.0, 39.0, "SPEAKER_00")]
    run.close()


def test_a_background_embedding_failure_reaches_the_caller_and_stops_the_thread() -> None:
    from habla.config import DiarizeSettings
    from habla.diarize.pipeline import Diarization

    run = Diarization(_LevelEmbedder(fail=True), DiarizeSettings(background=True))  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="embedder broke"):
        for audio, speech, offset in _two_voice_blocks() * 3:  # more blocks than the backlog: add never hangs
            run.add(audio, speech, offset)
        run.turns()
    run.close(raise_failure=False)
    assert run._worker is None


def _close_voices(offset: float, noise: float, voices: int = 2, n: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Windows of ``voices`` voices whose centres lie ``offset`` from one shared centre (near-identical voices)."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=192)
    rows, truth = [], []
    for voice in range(voices):
        direction = rng.normal(size=192)
        centre = base / np.linalg.norm(base) + offset * direction / np.linalg.norm(direction)
        for _ in range(n):
            x = centre + noise * rng.normal(size=192) / np.sqrt(192)
            rows.append(x / np.linalg.norm(x))
            truth.append(voice)
    return np.array(rows), np.array(truth)


def test_ahc_split_separates_near_identical_voices_that_ahc_merges() -> None:
    from habla.diarize.cluster import SplitRule

    emb, truth = _close_voices(0.5, 0.6)  # 0.37 apart on average over their windows: under the 0.45 threshold
    seconds, follows = np.full(len(emb), 1.5), np.arange(len(emb)) % 5 != 0
    options = SpeakerOptions(max_speakers=20)
    assert cluster_windows(emb, seconds, 0.45, options, 5.0, "ahc", follows=follows).max() == 0
    split = cluster_windows(emb, seconds, 0.45, options, 5.0, "ahc-split", follows=follows, split=SplitRule())
    assert np.array_equal(split, truth)
    # a count the caller gives, or a maximum of one, is kept
    assert cluster_windows(emb, seconds, 0.45, SpeakerOptions(max_speakers=1), 5.0, "ahc-split", follows=follows,
                           split=SplitRule()).max() == 0


def test_ahc_split_keeps_one_voice_and_parts_closer_than_the_minimum() -> None:
    from habla.diarize.cluster import SplitRule, split_speakers

    seconds = np.full(60, 1.5)
    follows = np.arange(60) % 5 != 0
    one, _ = _close_voices(0.0, 0.8)  # one diffuse voice (both "voices" share the centre)
    assert split_speakers(one, seconds, follows, np.zeros(60, dtype=np.int64), 5.0, SplitRule()).max() == 0
    close, _ = _close_voices(0.5, 0.4)  # two voices 0.29 apart: under the 0.33 minimum
    assert split_speakers(close, seconds, follows, np.zeros(60, dtype=np.int64), 5.0, SplitRule()).max() == 0
    assert split_speakers(close, seconds, follows, np.zeros(60, dtype=np.int64), 5.0,
                          SplitRule(min_distance=0.25)).max() == 1
