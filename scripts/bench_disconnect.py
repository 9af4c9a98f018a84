"""How long the LLM keeps working for a client that has hung up (issue 21's target: under 1 s).

Starts `habla serve` on a free port, then for each case: a client asks for a long reply and hangs up after
``--after`` seconds (during the prompt, or while tokens stream); at once a second client asks for one token. The
second request's latency, minus the same request's latency on an idle server (the median of a few), is the time the
abandoned generation went on after its client left. Interleaved, so the machine's load is shared by both.

    .venv/bin/python scripts/bench_disconnect.py --rounds 5
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

PROMPT_FILLER = "The quick brown fox jumps over the lazy dog near the river bank. " * 120  # ~1700 tokens


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def one_token(client: httpx.Client) -> float:
    start = time.perf_counter()
    r = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1})
    r.raise_for_status()
    return time.perf_counter() - start


def abandon(url: str, body: dict, after: float) -> None:
    """Ask, then hang up ``after`` seconds later (a streamed reply is read until then: tokens keep coming)."""
    start = time.monotonic()
    with httpx.Client(timeout=after) as client:
        try:
            with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
                for _ in response.iter_raw():
                    if time.monotonic() - start > after:
                        return  # leaving the blocks closes the connection
        except httpx.TimeoutException:
            return
    raise RuntimeError("the long request finished before the client hung up; lower --after")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--after", type=float, default=2.0, help="seconds before the client hangs up")
    args = parser.parse_args()
    port = free_port()
    home = Path(tempfile.mkdtemp(prefix="habla-bench-disconnect-"))
    env = {**os.environ, "HABLA_HOME": str(home)}
    habla = str(Path(sys.executable).with_name("habla"))
    proc = subprocess.Popen([habla, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    cases = {
        "while tokens stream (non-streaming request)": (
            {"messages": [{"role": "user", "content": "Count from 1 to 3000, one number per line."}],
             "max_tokens": 3000}),
        "while tokens stream (stream=true)": (
            {"messages": [{"role": "user", "content": "Count from 1 to 3000, one number per line."}],
             "max_tokens": 3000, "stream": True}),
        "during a ~1700-token prompt": (
            {"messages": [{"role": "user", "content": PROMPT_FILLER + "Summarise this."}], "max_tokens": 500}),
    }
    try:
        with httpx.Client(base_url=url, timeout=600) as client:
            deadline = time.monotonic() + 120
            while True:
                try:
                    one_token(client)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
            late: dict[str, list[float]] = {name: [] for name in cases}
            for _ in range(args.rounds):
                for name, body in cases.items():
                    idle = statistics.median(one_token(client) for _ in range(3))
                    abandon(url, body, args.after)
                    late[name].append(max(0.0, one_token(client) - idle))
        print(f"LLM work after the client hung up ({args.rounds} rounds, hang-up after {args.after:.1f} s):")
        for name, values in late.items():
            print(f"  {name:45s} median {statistics.median(values):.2f} s, worst {max(values):.2f} s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
