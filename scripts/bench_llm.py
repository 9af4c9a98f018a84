"""Benchmark the embedded LLM (Gemma 3 270M through llama.cpp): time to first token, decode speed, and the
summary of a ~10-minute real transcript. Medians of several runs; JSON to bench-results/llm-*.json.

Cold = the KV cache is cleared before the run, so the whole prompt is evaluated. Warm = a fixed system prompt is
already in the prefix cache and only the new question is evaluated.

Usage: .venv/bin/python scripts/bench_llm.py [--runs 7] [--threads N] [--no-summary] [--minutes 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path

import numpy as np

from habla.asr.types import Transcript
from habla.config import load_settings
from habla.llm.assistant import Assistant
from habla.llm.embedded import EmbeddedEngine
from habla.llm.protocol import ChatMessage, ChatOptions, ChatUsage
from habla.llm.service import gguf_path
from habla.models.store import ModelStore
from bench_results import save_report  # scripts/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench-results"
SPEECH = Path(os.environ.get("HABLA_TEST_SPEECH", ROOT.parent / "shared" / "testdata" / "speech"))
TARGET_TTFT_S, TARGET_TOKENS_S = 0.150, 25.0
SYSTEM = ("You are habla's assistant. You answer questions about meeting transcripts and phone calls. "
          "Be brief and factual, quote times as [mm:ss], never invent facts that are not in the transcript, "
          "say so when the transcript does not contain the answer, and answer in the language of the question. ") * 2
TOPICS = ["a dragon", "a lighthouse keeper", "a lost cat", "the first train to Lisbon", "a robot chef",
          "a village by the sea", "a mountain storm", "a clockmaker", "a river boat", "a desert fox"]


def timed_chat(engine: EmbeddedEngine, messages: list[ChatMessage], max_tokens: int) -> dict[str, float]:
    started = time.perf_counter()
    stream = engine.chat(messages, ChatOptions(max_tokens=max_tokens, repeat_penalty=1.15))
    stream.text()
    total = time.perf_counter() - started
    u: ChatUsage = stream.usage
    first = u.first_token_seconds or total
    decode = (u.completion_tokens - 1) / (total - first) if u.completion_tokens > 1 and total > first else 0.0
    return {"ttft_s": first, "tokens_per_s": decode, "prompt_tokens": u.prompt_tokens,
            "cached_tokens": u.cached_tokens, "completion_tokens": u.completion_tokens, "total_s": total}


def stats(runs: list[dict[str, float]], key: str) -> dict[str, float]:
    values = [r[key] for r in runs]
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def bench_chat(engine: EmbeddedEngine, runs: int, max_tokens: int) -> dict[str, object]:
    """cold: a short prompt; cold_system: the system prompt and a question, uncached; warm: the same, the system
    prompt cached by the previous call."""
    found: dict[str, list[dict[str, float]]] = {"cold": [], "cold_system": [], "warm": []}
    for i in range(runs):
        question = ChatMessage("user", f"Tell me a long story about {TOPICS[i % len(TOPICS)]}.")
        engine.clear_cache()
        found["cold"].append(timed_chat(engine, [question], max_tokens))
        engine.clear_cache()
        found["cold_system"].append(timed_chat(engine, [ChatMessage("system", SYSTEM), question], max_tokens))
        engine.warm([ChatMessage("system", SYSTEM), ChatMessage("user", "Hello.")])  # caches the system prompt
        found["warm"].append(timed_chat(engine, [ChatMessage("system", SYSTEM), question], max_tokens))
    return {name: {"ttft_s": stats(r, "ttft_s"), "tokens_per_s": stats(r, "tokens_per_s"),
                   "prompt_tokens": r[0]["prompt_tokens"], "cached_tokens": stats(r, "cached_tokens")["median"],
                   "completion_tokens": stats(r, "completion_tokens")["median"], "runs": r}
            for name, r in found.items()}


def long_transcript(minutes: float) -> tuple[Transcript, dict[str, float]]:
    """Every English test clip in manifest order (0.5 s apart), looped to ``minutes``, transcribed once and cached."""
    cache = OUT / f"llm-transcript-{minutes:g}min.json"
    if cache.is_file():
        data = json.loads(cache.read_text())
        return Transcript.from_dict(data["transcript"]), data["transcribe"]
    from habla.asr.bench import read_manifest
    from habla.asr.transcriber import Transcriber
    from habla.audio.decode import decode
    from habla.audio.wav import looped

    gap = np.zeros(8000, np.float32)
    clips = [c for c in read_manifest(SPEECH) if c.lang == "en"]
    audio = looped(np.concatenate([p for c in clips for p in (decode(c.path), gap)]), minutes * 60)
    transcriber = Transcriber.from_settings()
    transcriber.warm()
    started = time.perf_counter()
    transcript = transcriber.transcribe(audio)
    took = {"audio_s": len(audio) / 16000, "transcribe_s": time.perf_counter() - started}
    cache.write_text(json.dumps({"transcript": transcript.to_dict(), "transcribe": took}))
    return transcript, took


def bench_summary(engine: EmbeddedEngine, minutes: float) -> dict[str, object]:
    transcript, took = long_transcript(minutes)
    engine.clear_cache()
    started = time.perf_counter()
    answer = Assistant(engine).summarize(transcript)
    total = time.perf_counter() - started
    return {"audio_minutes": took["audio_s"] / 60, "transcribe_s": took["transcribe_s"],
            "segments": len(transcript.segments), "transcript_tokens": engine.count_tokens(transcript.text),
            "summary_s": total, "llm_calls": answer.calls, "chunks": answer.chunks,
            "max_prompt_tokens": answer.max_prompt_tokens, "context_size": engine.context_size,
            "citations": len(answer.citations), "summary": answer.text}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="Runs of each measure (the median is reported).")
    parser.add_argument("--threads", type=int, default=0, help="llama.cpp threads; 0 = one per physical core.")
    parser.add_argument("--fixed-threads", action="store_true",
                        help="Keep all threads even when the cores are contended (no ThreadGovernor).")
    parser.add_argument("--max-tokens", type=int, default=128, help="Tokens generated per run.")
    parser.add_argument("--minutes", type=float, default=10.0, help="Length of the transcript to summarise.")
    parser.add_argument("--no-summary", action="store_true", help="Skip the long-transcript summary.")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    settings = load_settings()
    load_before = os.getloadavg()
    started = time.perf_counter()
    engine = EmbeddedEngine(gguf_path(ModelStore(settings.models), settings.llm.model), name=settings.llm.model,
                            context_size=settings.llm.context_size, threads=args.threads,
                            adaptive_threads=not args.fixed_threads)
    result: dict[str, object] = {
        "model": settings.llm.model, "cyllama": version("cyllama"), "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(), "threads": engine.threads, "adaptive_threads": not args.fixed_threads, "context_size": engine.context_size,
        "load_s": time.perf_counter() - started, "loadavg_before": load_before}
    result.update(bench_chat(engine, args.runs, args.max_tokens))
    if not args.no_summary:
        result["summary"] = bench_summary(engine, args.minutes)
    result["loadavg_after"] = os.getloadavg()
    result["threads_used"] = asdict(engine.thread_stats)
    engine.close()
    path = save_report(result, "llm")
    report(result, path)


def report(r: dict[str, object], path: Path) -> None:
    print(f"{r['model']} on {r['cpus']} CPUs, {r['threads']} threads, cyllama {r['cyllama']}; "
          f"load average before {r['loadavg_before'][0]:.2f}, after {r['loadavg_after'][0]:.2f}")  # type: ignore[index]
    print(f"model load + warm-up: {r['load_s']:.2f} s")
    for name in ("cold", "cold_system", "warm"):
        m = r[name]
        t, d = m["ttft_s"], m["tokens_per_s"]  # type: ignore[index]
        print(f"{name}: prompt {m['prompt_tokens']} tokens ({m['cached_tokens']:.0f} cached): "  # type: ignore[index]
              f"first token {t['median'] * 1000:.0f} ms (min {t['min'] * 1000:.0f}, max {t['max'] * 1000:.0f}; "
              f"target <= {TARGET_TTFT_S * 1000:.0f}), decode {d['median']:.1f} tok/s "
              f"(min {d['min']:.1f}, max {d['max']:.1f}; target >= {TARGET_TOKENS_S:.0f})")
    s = r.get("summary")
    if isinstance(s, dict):
        print(f"summary of {s['audio_minutes']:.1f} min of speech ({s['segments']} segments, "
              f"{s['transcript_tokens']} tokens; transcribed in {s['transcribe_s']:.0f} s): {s['summary_s']:.1f} s, "
              f"{s['llm_calls']} LLM calls, {s['chunks']} chunks, largest prompt {s['max_prompt_tokens']} "
              f"of {s['context_size']} tokens, {s['citations']} citations")
        print(s["summary"])
    print(f"threads: {r['threads_used']}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
