"""Sentence splitting for speech: where audio is cut, whole text and streamed deltas alike."""

from __future__ import annotations

import pytest

from habla.tts.sentences import SentenceSplitter, iter_sentences, speakable, split_sentences


@pytest.mark.parametrize(("text", "expected"), [
    ("Hello there. How are you? Fine!", ["Hello there.", "How are you?", "Fine!"]),
    ("Dr. Smith arrived at 3.30 p.m. today. He left.", ["Dr. Smith arrived at 3.30 p.m. today.", "He left."]),
    ("e.g. this one. And J. R. Tolkien wrote it.", ["e.g. this one.", "And J. R. Tolkien wrote it."]),
    ("The price is 3.5 dollars. Cheap.", ["The price is 3.5 dollars.", "Cheap."]),
    ("1. First item\n2. Second item", ["1. First item", "2. Second item"]),
    ('She said "Stop." Then she ran.', ['She said "Stop."', "Then she ran."]),
    ("Wait... what? Really?!", ["Wait... what?", "Really?!"]),
    ("¿Qué tal? ¡Muy bien! La Sra. García llegó.", ["¿Qué tal?", "¡Muy bien!", "La Sra. García llegó."]),
    ("Él dijo: «Hola». Luego se fue.", ["Él dijo: «Hola».", "Luego se fue."]),
    ("你好。我很好。", ["你好。", "我很好。"]),
    ("It ended. and went on in lower case.", ["It ended. and went on in lower case."]),
    ("No final stop", ["No final stop"]),
])
def test_text_splits_into_spoken_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_pieces_without_words_are_dropped() -> None:
    assert split_sentences("Hi. ... !!! OK.") == ["Hi.", "OK."]
    assert split_sentences(" ... ") == []


def test_first_piece_is_cut_at_a_clause_to_start_audio_sooner() -> None:
    text = "Hello there, my good friend, how are you doing today? Fine, thanks."
    assert split_sentences(text, first_clause_chars=24) == [
        "Hello there, my good friend,", "how are you doing today?", "Fine, thanks."]
    assert split_sentences(text)[0] == "Hello there, my good friend, how are you doing today?"


def test_numbers_and_times_are_not_clauses() -> None:
    assert split_sentences("He paid $1,000 at 3:30, then left.", first_clause_chars=8) == [
        "He paid $1,000 at 3:30,", "then left."]


def test_a_long_first_sentence_without_clauses_is_cut_at_a_word() -> None:
    text = "The little boat drifted slowly across the quiet lake and then it sank to the bottom. It was old."
    assert split_sentences(text, first_clause_chars=24) == [
        "The little boat drifted slowly across the quiet", "lake and then it sank to the bottom.", "It was old."]
    # Sentences that end soon enough stay whole: a cut would cost more in prosody than it saves in latency.
    assert split_sentences("The little boat drifted slowly across the quiet lake. It sank.", 24)[0] == (
        "The little boat drifted slowly across the quiet lake.")


def test_long_sentences_are_cut_at_a_clause_then_a_word() -> None:
    clause = "one two three four five six seven, eight nine ten eleven twelve thirteen fourteen fifteen."
    pieces = split_sentences(clause, max_chars=60)
    assert pieces == ["one two three four five six seven,", "eight nine ten eleven twelve thirteen fourteen fifteen."]
    words = " ".join(["word"] * 100) + "."
    pieces = split_sentences(words, max_chars=100)
    assert all(len(p) <= 100 for p in pieces)
    assert " ".join(pieces) == words
    assert split_sentences("x" * 250, max_chars=100) == ["x" * 100, "x" * 100, "x" * 50]


def test_streamed_deltas_give_each_sentence_once_it_is_certain() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("Hel") == []
    assert splitter.feed("lo.") == []  # the text could go on in lower case ("lo.com is ...")
    assert splitter.feed(" Dr") == ["Hello."]
    assert splitter.feed(". Who is th") == []  # "Dr." is an abbreviation
    assert splitter.feed("ere?") == []  # "?!" or "?”" could follow
    assert splitter.feed(" I am") == ["Dr. Who is there?"]
    assert splitter.feed(" here.") == []
    assert splitter.flush() == ["I am here."]


def test_streamed_and_whole_text_agree() -> None:
    text = "Good morning, everyone. The meeting starts at 9.30 a.m. sharp! Mr. Lee will talk first; then we vote."
    deltas = [text[i:i + 3] for i in range(0, len(text), 3)]
    assert list(iter_sentences(deltas, first_clause_chars=10)) == split_sentences(text, first_clause_chars=10)


@pytest.mark.parametrize(("text", "expected"), [
    ("I do not have a ticket.😊🎉", "I do not have a ticket."),
    ("👍🏽 Great job!", "Great job!"),
    ("**Sure!** I can *help* with item #1.", "Sure! I can help with item #1."),
    ("## Summary\n- point one\n* point two", "Summary\npoint one\npoint two"),
    ("¡Muy bien! 👏 *Sigue así*.", "¡Muy bien! Sigue así."),
    ("3 * 4 = 12, 25 °C, © 2024, snake_case", "3 * 4 = 12, 25 °C, © 2024, snake_case"),  # kept: they are read
])
def test_emoji_and_markdown_are_not_read_aloud(text: str, expected: str) -> None:
    assert speakable(text) == expected
