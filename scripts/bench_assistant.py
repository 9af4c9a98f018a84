"""Evaluate the transcript assistant: summaries and answers on tests/data/assistant_eval, per language and split.

    .venv/bin/python scripts/bench_assistant.py --llm smollm2-135m --llm gemma-3-270m [--speed] [--json out.json]
    .venv/bin/python scripts/bench_assistant.py --speed-only     # the timings alone (quiet machine, < 1 min)

Quality: every case's summary (bullets) and its questions; "composed" rows join a split's cases of one language
into one longer recording. Speed (--speed): a 10-minute and a 1-hour transcript made by repeating the English
cases (timing depends on length, not on novelty), summarised once each, and 5 questions on the hour.
The machine matters: note its cores and load next to any figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

from habla.config import load_settings
from habla.llm.assistant import Assistant
from habla.llm.evaluation import Case, Scores, compose, load_cases, score_answer, score_summary
from habla.llm.service import assistant_options, open_engine, open_paraphrases, open_reranker, open_similarity
from habla.models.store import ModelStore

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "assistant_eval"


def run_case(assistant: Assistant, case: Case, show: bool) -> Scores:
    scores = Scores()
    started = time.perf_counter()
    summary = assistant.summarize(case.transcript)
    scores.summary_seconds.append(time.perf_counter() - started)
    scores.llm_calls += summary.calls
    scores.llm_fallbacks += summary.fallbacks
    score_summary(case, summary, scores)
    if show:
        print(f"\n## {case.id} ({case.split}, {case.transcript.duration / 60:.1f} min)\n{summary.text}")
    for q in case.questions:
        started = time.perf_counter()
        answer = assistant.ask(case.transcript, q["q"])
        scores.answer_seconds.append(time.perf_counter() - started)
        scores.llm_calls += answer.calls
        scores.llm_fallbacks += answer.fallbacks
        before = (scores.right_both, scores.refused)
        score_answer(q, answer, scores)
        if show:
            ok = (scores.right_both, scores.refused) != before
            print(f"  {'ok ' if ok else 'BAD'} Q: {q['q']} -> {answer.text}")
    return scores


def quality(assistant: Assistant, cases: list[Case], show: bool, composed: bool = True) -> dict[str, dict[str, object]]:
    groups: dict[str, Scores] = defaultdict(Scores)
    for case in cases:
        scores = run_case(assistant, case, show)
        groups[f"{case.language} {case.split}"].add(scores)
    for language in sorted({c.language for c in cases}):
        for split in sorted({c.split for c in cases}):
            part = [c for c in cases if c.language == language and c.split == split]
            if composed and len(part) > 1:
                long = compose(part, f"{language}-{split}-composed")
                groups[f"{language} {split} composed ({long.transcript.duration / 60:.0f} min)"].add(
                    run_case(assistant, long, show))
    return {k: v.row() | {"llm calls": v.llm_calls, "llm sentences refused": v.llm_fallbacks}
            for k, v in sorted(groups.items())}


def speed(assistant: Assistant, cases: list[Case]) -> dict[str, float]:
    english = [c for c in cases if c.language == "en"]
    out: dict[str, float] = {}
    for minutes in (10, 60):
        long = compose(english, f"en-{minutes}min", min_seconds=minutes * 60)
        started = time.perf_counter()
        summary = assistant.summarize(long.transcript)
        out[f"summary {minutes} min ({len(long.transcript.segments)} segments), s"] = time.perf_counter() - started
        out[f"summary {minutes} min LLM calls"] = summary.calls
        if minutes == 60:
            worst, worst_cpu = 0.0, 0.0
            for q in [q for q in long.questions if not q.get("unanswerable")][:5]:
                started, cpu = time.perf_counter(), time.process_time()  # CPU of all threads: load-independent
                assistant.ask(long.transcript, q["q"])
                worst = max(worst, time.perf_counter() - started)
                worst_cpu = max(worst_cpu, time.process_time() - cpu)
            out["question on 60 min, worst of 5, s"] = worst
            out["question on 60 min, worst of 5, CPU s (all threads)"] = worst_cpu
    return {k: round(v, 2) for k, v in out.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llm", action="append", help="catalog LLM(s) to compare (default: the configured one)")
    parser.add_argument("--speed", action="store_true", help="also time 10-minute and 1-hour transcripts")
    parser.add_argument("--speed-only", action="store_true", help="only the timings (the quiet-machine check)")
    parser.add_argument("--show", action="store_true", help="print every summary and answer")
    parser.add_argument("--split", default="all", help="comma-separated splits (tune, heldout, heldout2, heldout3, "
                        "heldout4, heldout5, heldout6) or all; tune on tune to heldout5 (looked at), report heldout6")
    parser.add_argument("--no-composed", action="store_true", help="skip the composed (longer) recordings")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()
    settings = load_settings()
    wanted = set(args.split.split(","))
    cases = [c for c in load_cases(DATA) if "all" in wanted or c.split in wanted]
    results: dict[str, object] = {"machine": f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"}
    print(results["machine"], file=sys.stderr)
    for name in args.llm or [settings.llm.model]:
        config = settings.model_copy(update={"llm": settings.llm.model_copy(update={"model": name})})
        engine = open_engine(config.llm, ModelStore(config.models))
        store = ModelStore(config.models)
        paraphrases = open_paraphrases(config.assistant, store, extract=True)
        started = time.perf_counter()
        reranker = open_reranker(config.assistant, store)
        loaded = time.perf_counter() - started
        assistant = Assistant(engine, assistant_options(config.assistant, config.llm), paraphrases, reranker,
                              open_similarity(config.assistant, store))
        result: dict[str, object] = {}
        if not args.speed_only:
            result["quality"] = quality(assistant, cases, args.show, not args.no_composed)
        if args.speed or args.speed_only:
            result["speed"] = {f"reranker ({config.assistant.reranker}) load, s": round(loaded, 2),
                               **speed(assistant, load_cases(DATA))}
        results[name] = result
        engine.close()
        print(f"\n# {name} (load at the end {os.getloadavg()[0]:.1f})", file=sys.stderr)
        print(json.dumps(result, indent=1, ensure_ascii=False), file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
