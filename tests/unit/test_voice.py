"""Voice pipeline parts that need no LLM or TTS: endpointing on real speech, heard text on barge-in, memory
trimming, reply clean-up, session options and exports."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from habla.audio.decode import decode
from habla.config import load_settings
from habla.errors import InvalidOption
from habla.llm.protocol import ChatMessage
from habla.voice.endpoint import EndpointOptions, Endpointer
from habla.voice.listener import InputTrack, TurnListener
from habla.voice.memory import Conversation
from habla.voice.options import VoiceOptions
from habla.voice.recording import Recording
from habla.voice.reply import resample, trim_stray_tail
from habla.voice.session import _Played, heard_text
from tests.conftest import RATE, SPEECH_DIR


def endpoint_events(audio: np.ndarray, **options: object) -> list[tuple[str, float]]:
    endpointer = Endpointer(EndpointOptions(**options))  # type: ignore[arg-type]
    events = []
    for i in range(0, len(audio), 320):  # 20 ms frames, as a microphone sends them
        events += [(e.kind, e.sample / RATE) for e in endpointer.feed(audio[i:i + 320])]
    return events


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    path = SPEECH_DIR / "ast-en-vm-msginstruct.flac"  # 14.6 s with four short pauses
    if not path.is_file():
        pytest.skip("test audio not found")
    return decode(path)


def test_a_turn_ends_after_the_configured_silence(speech: np.ndarray) -> None:
    audio = np.concatenate([np.zeros(RATE), speech, np.zeros(RATE)])
    events = endpoint_events(audio, end_silence_ms=500, pause_ms=200)
    kinds = [k for k, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("start") == kinds.count("end") == 1
    assert kinds.count("pause") >= 3  # the pauses between "press 6", "press 5" ... are decoded early
    assert 1.0 <= events[0][1] <= 1.4 and 15.0 <= events[-1][1] <= 15.6  # the clip speaks from 0.3 s to 14.3 s


def test_a_long_end_silence_keeps_pauses_inside_the_turn(speech: np.ndarray) -> None:
    short = endpoint_events(np.concatenate([speech, np.zeros(RATE)]), end_silence_ms=120, pause_ms=100)
    long = endpoint_events(np.concatenate([speech, np.zeros(2 * RATE)]), end_silence_ms=1500, pause_ms=200)
    assert [k for k, _ in short].count("end") > 1
    assert [k for k, _ in long].count("end") == 1


def test_quiet_speech_below_the_level_gate_makes_no_turn(speech: np.ndarray) -> None:
    assert endpoint_events(speech * 0.003, min_level_dbfs=-45) == []  # about -60 dBFS
    assert endpoint_events(speech * 0.003, min_level_dbfs=-80)[0][0] == "start"


def test_noise_clicks_and_tones_make_no_turn() -> None:
    rng = np.random.default_rng(0)
    clicks = np.zeros(RATE * 3, np.float32)
    clicks[rng.integers(0, len(clicks) - 80, 30)[:, None] + np.arange(80)] = rng.normal(0, 0.4, (30, 80))
    t = np.arange(RATE * 3) / RATE
    tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    noise = rng.normal(0, 0.02, RATE * 3).astype(np.float32)
    for audio in (np.zeros(RATE * 3, np.float32), clicks, tone, noise):
        assert endpoint_events(audio) == []


def test_an_interrupted_reply_keeps_only_the_words_heard() -> None:
    played = [_Played("I'm sorry,", 16000, 1000), _Played("I don't know the mailbox number.", 32000, 17000)]
    assert heard_text(played, None) == ("I'm sorry, I don't know the mailbox number.", [16000, 32000])
    text, samples = heard_text(played, 17000 + 16000)  # halfway through the second piece
    assert text == "I'm sorry, I don't know" and samples == [16000, 16000]
    assert heard_text(played, 500) == ("", [0, 0])  # cut in before any audio played


def test_memory_drops_the_oldest_turns_beyond_its_budget() -> None:
    memory = Conversation("Be brief.", "en", budget_tokens=60)
    for i in range(10):
        memory.add(f"question {i} " * 3, f"answer {i} " * 3)
    count = lambda msgs: sum(len(m.content.split()) for m in msgs)  # noqa: E731 - a word is a token here
    prompt = memory.prompt("last question", count)
    assert count(prompt) <= 60 and prompt[-1] == ChatMessage("user", "last question")
    assert prompt[0].role == "system" and "answer 9" in prompt[-2].content and "question 0" not in str(prompt)
    assert memory.turns == prompt[len(memory.preamble):-1]


def test_memory_in_another_language_asks_for_it_with_a_primer_in_it() -> None:
    memory = Conversation("Be brief.", "es", 1000)
    assert memory.preamble[0] == ChatMessage("system", "Be brief. Always answer in Spanish.")
    assert memory.preamble[1].content == "Hola, ¿cómo estás?" and len(memory.preamble) == 5


@pytest.mark.parametrize(("piece", "kept"), [
    ("the capital of France is Paris. fonctionnement", "the capital of France is Paris."),
    ("I don't know the number.那我", "I don't know the number."),
    ("I can help with that.", "I can help with that."),
    ("no end mark here", "no end mark here"),
    ("I'm sorry. SUBSCRIBEをした場合にSubscribe", "I'm sorry."),
    ("Sure. I think that the answer is", "Sure."),
])
def test_a_stray_word_after_the_last_sentence_is_not_spoken(piece: str, kept: str) -> None:
    assert trim_stray_tail(piece) == kept


def test_session_options_reject_unknown_or_bad_values() -> None:
    settings = load_settings()
    assert VoiceOptions.from_settings(settings, language="es").language == "es"
    with pytest.raises(InvalidOption):
        VoiceOptions.from_settings(settings, sample_rate=8000)
    with pytest.raises(InvalidOption):
        VoiceOptions.from_settings(settings, end_silence_ms=10)


def test_resampling_keeps_the_duration() -> None:
    tone = np.sin(2 * np.pi * 440 * np.arange(22050) / 22050).astype(np.float32)
    out = resample(tone, 22050, 16000)
    assert abs(len(out) - 16000) <= 64 and 0.9 < float(np.abs(out).max()) < 1.1


def test_a_session_exports_both_speakers_and_one_mixed_track(tmp_path) -> None:  # noqa: ANN001
    track = InputTrack()
    track.append(np.full(RATE * 4, 0.1, np.float32))
    recording = Recording(track, "en")
    recording.add_user(1, 0.5, 1.5, "Hello there.")
    recording.add_assistant(1, 2.0, np.full(RATE * 3, 0.2, np.float32), "Hi, how can I help?", False)
    srt = recording.render("srt")
    assert "User: Hello there." in srt and "Assistant: Hi, how can I help?" in srt and "00:00:02,000" in srt
    assert recording.render("vtt").startswith("WEBVTT")
    data = json.loads(recording.render("json"))
    assert [u["speaker"] for u in data["utterances"]] == ["user", "assistant"]
    mixed = recording.mixed_audio()
    assert len(mixed) == RATE * 5 and mixed[RATE * 3] == pytest.approx(0.3, abs=1e-3)
    assert recording.export(tmp_path / "s.wav").stat().st_size > 2 * RATE * 5
    with pytest.raises(InvalidOption):
        recording.render("docx")


@pytest.mark.parametrize(("reply", "spoken"), [
    ("I'm sorry, that number is not valid. SUBSCRIBEをした場合に", ["I'm sorry,", "that number is not valid."]),
    ("I'm sorry, I don't know the number.那我", ["I'm sorry,", "I don't know the number."]),
    ("Paris is the capital. It is big. And more.", ["Paris is the capital.", "It is big."]),  # max_sentences=2
    ("Sure. I think the answer", ["Sure."]),  # cut by max_tokens mid-sentence
    ("just a few words", ["just a few words"]),
])
def test_a_reply_is_spoken_as_whole_sentences(reply: str, spoken: list[str]) -> None:
    import threading

    from habla.llm.protocol import ChatOptions
    from habla.voice.reply import ReplyOptions, ReplyProgress, _sentences

    tokens = iter([reply[i:i + 3] for i in range(0, len(reply), 3)])  # as an LLM streams it
    progress = ReplyProgress()
    assert list(_sentences(tokens, ReplyOptions(ChatOptions(), max_sentences=2, first_clause_chars=8),
                           threading.Event(), lambda delta: None, progress)) == spoken
    assert progress.first_token is not None and progress.first_sentence is not None


def test_a_hint_starts_the_reply_before_the_pause_and_a_resume_follows_a_hint_alone(speech: np.ndarray) -> None:
    gap = np.zeros(int(0.15 * RATE), np.float32)  # longer than the hint's 100 ms, shorter than the 200 ms pause
    audio = np.concatenate([speech[:int(2.5 * RATE)], gap, speech[int(2.5 * RATE):], np.zeros(RATE, np.float32)])
    events = endpoint_events(audio, end_silence_ms=500, pause_ms=200, speculate_ms=100)
    pauses = [t for k, t in events if k == "pause"]
    hints = [t for k, t in events if k == "hint"]
    assert pauses and set(pauses) <= set(hints)  # every pause was hinted first, at the same sample
    for i, (kind, t) in enumerate(events):
        if kind == "pause":
            assert events[i - 1] == ("hint", t)
    alone = [t for t in hints if t not in pauses]
    assert alone  # the inserted 150 ms gap (and any short gap of the clip's own)
    after = {events[i + 1][0] for i, (k, t) in enumerate(events) if k == "hint" and t in alone}
    assert after == {"resume"}  # the user went on: the speculative reply is dropped
    plain = endpoint_events(audio, end_silence_ms=500, pause_ms=200)
    assert [e for e in events if e[0] in ("start", "pause", "end")] == [e for e in plain if e[0] != "resume"]


def test_a_previewed_transcript_is_kept_by_the_pause_without_decoding_again() -> None:
    decoded: list[int] = []

    def decode(audio: np.ndarray, prompt: str) -> str:
        decoded.append(len(audio))
        return f"piece{len(decoded)}"

    async def run() -> tuple[str, str, str]:
        track = InputTrack()
        track.append(np.ones(RATE, np.float32) * 0.1)  # 1 s of "speech", then 100 ms of silence heard so far
        track.append(np.zeros(RATE // 10, np.float32))
        listener = TurnListener(track, 0, decode)
        previewed = await listener.preview(RATE)
        track.append(np.zeros(RATE // 10, np.float32))  # the pause: 200 ms of silence
        await listener.commit(RATE)
        kept = listener.text
        track.append(np.ones(RATE, np.float32) * 0.1)  # the user goes on; a later preview is not what is kept
        await listener.preview(2 * RATE + RATE // 5)
        await listener.commit(2 * RATE)
        return previewed, kept, listener.text

    previewed, kept, later = asyncio.run(run())
    assert previewed == kept == "piece1" and decoded[0] == RATE + int(0.15 * RATE)  # the tail pad, zero-filled
    assert later == "piece1 piece3" and len(decoded) == 3  # a preview of other speech is decoded again
