"""The embedded LLM really generates: Gemma 3 270M (pip package) run in-process by llama.cpp (cyllama)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from habla.config import load_settings
from habla.errors import InvalidOption
from habla.llama_cpp_adapter import GGUFModel
from habla.llm.embedded import EmbeddedEngine
from habla.llm.protocol import ChatMessage, ChatOptions
from habla.llm.service import gguf_path
from habla.models.store import ModelStore

pytest.importorskip("cyllama", reason='needs habla[llm]')


@pytest.fixture(scope="module")
def engine() -> Iterator[EmbeddedEngine]:
    e = EmbeddedEngine(gguf_path(ModelStore(load_settings().models), "gemma-3-270m"), name="gemma-3-270m", context_size=2048)
    yield e
    e.close()


def test_generates_text_from_chat_messages(engine: EmbeddedEngine) -> None:
    stream = engine.chat([ChatMessage("user", "The capital of France is Paris. The capital of Italy is")],
                         ChatOptions(max_tokens=24))
    pieces = list(stream)
    assert len(pieces) >= 2 and "".join(pieces).strip()
    assert stream.usage.completion_tokens == 24 or stream.usage.finish_reason == "stop"
    assert stream.usage.first_token_seconds is not None  # its speed: scripts/bench_llm.py, not a test


def test_prompt_is_the_gemma3_turn_format_as_llama_cpp_builds_it(engine: EmbeddedEngine) -> None:
    messages = [ChatMessage("system", "Be brief."), ChatMessage("user", "Hi"), ChatMessage("assistant", "Hello"),
                ChatMessage("user", "Bye")]
    ours = engine.prompt_text(messages)
    assert ours.startswith("<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello")
    builtin = GGUFModel(engine.path).apply_template(  # llama.cpp's own Gemma template, as a second opinion
        "gemma", [(m.role, m.content) for m in messages], True)
    assert ours == builtin
    tokens = engine.tokenize_chat(messages)
    assert tokens[:2] == [2, 105]  # <bos> <start_of_turn>: the markers are single special tokens, not text


def test_a_repeated_prefix_is_not_evaluated_again_and_greedy_output_is_stable(engine: EmbeddedEngine) -> None:
    messages = [ChatMessage("system", "You take notes. " * 40), ChatMessage("user", "Note: the bus leaves at 9.")]
    first = engine.chat(messages, ChatOptions(max_tokens=16))
    text = first.text()
    again = engine.chat(messages, ChatOptions(max_tokens=16))
    assert again.text() == text
    assert again.usage.cached_tokens >= again.usage.prompt_tokens - 1
    follow = engine.chat(messages + [ChatMessage("assistant", text), ChatMessage("user", "And the train?")],
                         ChatOptions(max_tokens=4))
    follow.text()
    assert follow.usage.cached_tokens > 100  # the system prompt and first turn were kept


def test_cancel_stops_generation(engine: EmbeddedEngine) -> None:
    cancel = threading.Event()
    stream = engine.chat([ChatMessage("user", "Count from one to one thousand.")], ChatOptions(max_tokens=1000),
                         cancel)
    for i, _ in enumerate(stream):
        if i == 3:
            cancel.set()
    # Generation runs ahead of the reader on its own thread, so a few more tokens than were read may be made.
    assert stream.usage.finish_reason == "cancelled" and stream.usage.completion_tokens < 1000


def test_a_prompt_cancelled_while_it_is_evaluated_keeps_the_cached_conversation(engine: EmbeddedEngine) -> None:
    """Talk cancels a speculative reply when the user goes on, often inside its prompt's evaluation: the
    conversation cached before that prompt must stay, or the next reply evaluates it all again (0.8 s, not 0.1 s)."""
    system = ChatMessage("system", "You take notes. " * 40)
    engine.chat([system, ChatMessage("user", "Hi")], ChatOptions(max_tokens=1)).text()
    cancel = threading.Event()
    timer = threading.Timer(0.05, cancel.set)  # inside the first 512-token batch of the long message
    timer.start()
    cut = engine.chat([system, ChatMessage("user", "Note this down: " + "the bus leaves at nine, " * 150)],
                      ChatOptions(max_tokens=4), cancel)
    cut.text()
    timer.join()
    assert cut.usage.finish_reason == "cancelled" and cut.usage.completion_tokens == 0
    question = [system, ChatMessage("user", "And the train?")]
    after = engine.chat(question, ChatOptions(max_tokens=8))
    text = after.text()
    assert after.usage.cached_tokens > 100  # the system prompt was kept
    engine.clear_cache()
    assert engine.chat(question, ChatOptions(max_tokens=8)).text() == text  # and is what evaluating it anew gives


def test_a_reader_that_stops_reading_does_not_keep_the_model_from_the_next_caller(engine: EmbeddedEngine) -> None:
    """No lock is held across a yield: a stream read once and then left alone (not closed, still referenced)
    finishes generating on its own, and another conversation gets the model."""
    stalled = engine.chat([ChatMessage("user", "Say hello.")], ChatOptions(max_tokens=12))
    next(iter(stalled))
    answered: list[str] = []
    other = threading.Thread(target=lambda: answered.append(
        engine.chat([ChatMessage("user", "Say yes.")], ChatOptions(max_tokens=4)).text()), daemon=True)
    other.start()
    other.join(timeout=300)  # a guard against a hang (the old lock held the model here forever), not a timing test
    assert not other.is_alive() and answered and answered[0].strip()
    assert "".join(stalled) is not None  # the stalled stream can still be read to its end


def test_a_prompt_longer_than_the_context_is_a_clear_error(engine: EmbeddedEngine) -> None:
    with pytest.raises(InvalidOption, match="context"):
        engine.chat([ChatMessage("user", "word " * 3000)], ChatOptions())
