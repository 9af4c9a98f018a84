"""The embedded LLM's thread governor: all threads while they are fast, one thread while a core is taken."""

from __future__ import annotations

from habla.llm.embedded import PROBE_EVERY, ThreadGovernor

FAST, ONE, CONTENDED = 0.025, 0.045, 0.700  # seconds a token: 2 free cores, 1 thread, 2 threads with a core taken


def decode(governor: ThreadGovernor, token_time: dict[int, float], tokens: int) -> list[int]:
    """The thread count used for each token of one reply."""
    threads = governor.start()
    used = []
    for index in range(1, tokens + 1):
        used.append(threads)
        threads = governor.next(threads, token_time[threads], index)
    return used


def test_free_cores_keep_all_threads() -> None:
    governor = ThreadGovernor(2)
    assert decode(governor, {2: FAST, 1: ONE}, 100) == [2] * 100
    assert governor.stats.fallbacks == 0


def test_a_taken_core_drops_to_one_thread_after_two_slow_tokens_then_probes_rarely() -> None:
    governor = ThreadGovernor(2)
    decode(governor, {2: FAST, 1: ONE}, 10)
    used = decode(governor, {2: CONTENDED, 1: ONE}, 100)
    assert used[:3] == [2, 2, 1] and governor.contended and governor.stats.fallbacks == 1
    assert used.count(2) <= 2 + 100 // PROBE_EVERY  # each probe costs one token
    assert decode(governor, {2: CONTENDED, 1: ONE}, 5) == [1] * 5  # the next reply starts on one thread


def test_a_probe_takes_all_threads_back_once_the_core_is_free() -> None:
    governor = ThreadGovernor(2)
    decode(governor, {2: FAST, 1: ONE}, 10)
    decode(governor, {2: CONTENDED, 1: ONE}, 10)
    used = decode(governor, {2: FAST, 1: ONE}, 2 * PROBE_EVERY)
    assert used[: PROBE_EVERY] == [1] * PROBE_EVERY and used[-1] == 2
    assert not governor.contended and governor.stats.recoveries == 1


def test_one_slow_token_is_not_contention() -> None:
    governor = ThreadGovernor(2)
    threads = governor.start()
    for index in range(1, 50):
        threads = governor.next(threads, CONTENDED if index == 20 else FAST, index)
        assert threads == 2


def test_fixed_threads_never_change() -> None:
    governor = ThreadGovernor(2, adaptive=False)
    assert decode(governor, {2: CONTENDED, 1: ONE}, 50) == [2] * 50
