"""The Gemma 3 chat template, timestamps, and the stop-sequence filter."""

from __future__ import annotations

import pytest

from habla.errors import InvalidOption
from habla.llm.prompts import TIMESTAMP, format_timestamp, gemma3_prompt, parse_timestamp
from habla.llm.protocol import ChatMessage, ChatOptions, ChatUsage, stop_filter


def test_gemma3_prompt_uses_turn_markers_and_folds_the_system_prompt_into_the_first_user_turn() -> None:
    prompt = gemma3_prompt([ChatMessage("system", "Be brief."), ChatMessage("user", " Hi "),
                            ChatMessage("assistant", "Hello!"), ChatMessage("user", "Bye")])
    assert prompt == ("<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n"
                      "<start_of_turn>model\nHello!<end_of_turn>\n"
                      "<start_of_turn>user\nBye<end_of_turn>\n"
                      "<start_of_turn>model\n")


def test_gemma3_prompt_joins_consecutive_turns_of_one_role() -> None:
    prompt = gemma3_prompt([ChatMessage("user", "a"), ChatMessage("user", "b")])
    assert prompt == "<start_of_turn>user\na\n\nb<end_of_turn>\n<start_of_turn>model\n"


def test_unknown_role_is_rejected() -> None:
    with pytest.raises(InvalidOption):
        ChatMessage("tool", "x")  # type: ignore[arg-type]


@pytest.mark.parametrize("seconds,hours,text", [(0, False, "[00:00]"), (724.9, False, "[12:04]"),
                                                 (3723, False, "[1:02:03]"), (65, True, "[0:01:05]")])
def test_timestamps_round_trip(seconds: float, hours: bool, text: str) -> None:
    assert format_timestamp(seconds, hours) == text
    match = TIMESTAMP.search(f"said at {text}.")
    assert match is not None and parse_timestamp(match) == int(seconds)


def test_stop_filter_cuts_at_a_stop_split_across_pieces() -> None:
    usage = ChatUsage()
    out = "".join(stop_filter(iter(["Tom fix", "es it\n", "\nQues", "tion: more"]), ["\n\n"], usage))
    assert out == "Tom fixes it"
    assert usage.finish_reason == "stop"


def test_options_reject_out_of_range_values() -> None:
    with pytest.raises(InvalidOption):
        ChatOptions(temperature=3)
    with pytest.raises(InvalidOption):
        ChatOptions(max_tokens=0)
