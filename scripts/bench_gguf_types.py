"""How a catalog LLM's weight type changes its speed and its predictions (issue 16: why SmolLM2 runs as Q8_0).

For each type, the shipped GGUF is converted with llama.cpp's quantizer (the store's own recipe), then on one
context with all cores: the time to evaluate 20 prompt tokens after 100 cached ones (a talk reply's new turn), 100
tokens from empty, and one generated token (median of 10); and, against the shipped file, the next-token KL
divergence, top-1 agreement and negative log-likelihood on an English and a Spanish chat.

    .venv/bin/python scripts/bench_gguf_types.py [--model smollm2-135m] [--types q8_0]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from habla.config import load_settings
from habla.hardware import physical_cores
from habla.llama_cpp_adapter import GGUFModel, requantize
from habla.models.catalog import ALL_MODELS
from habla.models.store import ModelStore

CHATS = {
    "en": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat time does the library "
          "open on Saturday? I need to return some books before the weekend is over.<|im_end|>\n<|im_start|>"
          "assistant\nThe library opens at nine in the morning on Saturdays and closes at five in the afternoon. You "
          "can also use the book drop outside the main entrance at any time.<|im_end|>",
    "es": "<|im_start|>user\n¿A qué hora abre la biblioteca el sábado? Necesito devolver unos libros antes del fin "
          "de semana.<|im_end|>\n<|im_start|>assistant\nLa biblioteca abre a las nueve de la mañana los sábados y "
          "cierra a las cinco de la tarde.<|im_end|>",
}
FILLER = ("Thank you for calling. Please hold while I attempt to connect you with your party, and then we can talk "
          "about the weather in Paris tomorrow morning and the library hours. ") * 6


def speed(path: Path) -> dict[str, float]:
    model = GGUFModel(path)
    tokens = model.tokenize(FILLER, add_special=True, parse_special=False)
    ctx = model.context(2048, 512, physical_cores(), keep_swa=True, cancellable=True)
    start = time.perf_counter()
    ctx.decode(tokens[:100], 0)
    prompt100 = time.perf_counter() - start
    prompt20 = []
    for _ in range(5):
        ctx.keep_prefix(100)
        start = time.perf_counter()
        ctx.decode(tokens[100:120], 100)
        prompt20.append(time.perf_counter() - start)
    token = []
    for i in range(10):
        start = time.perf_counter()
        ctx.decode([tokens[120 + i]], 120 + i)
        token.append(time.perf_counter() - start)
    return {"prompt_100_s": prompt100, "prompt_20_after_100_s": min(prompt20), "token_ms": 1000 * statistics.median(token)}


def log_probs(path: Path, tokens: list[int]) -> np.ndarray:
    ctx = GGUFModel(path).context(1024, 512, physical_cores())
    rows = []
    for i, token in enumerate(tokens):
        ctx.decode([token], i)
        logits = np.asarray(ctx.last_logits(), dtype=np.float64)
        logits -= logits.max()
        rows.append(logits - np.log(np.exp(logits).sum()))
    return np.array(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--types", default="q8_0", help="comma-separated llama.cpp file types")
    args = parser.parse_args()
    store = ModelStore(load_settings().models)
    spec = ALL_MODELS[args.model]
    shipped = store.locate(args.model).path / spec.files[0].name
    with tempfile.TemporaryDirectory() as tmp:
        paths = {"shipped": shipped}
        for file_type in args.types.split(","):
            paths[file_type] = Path(tmp) / f"{file_type}.gguf"
            requantize(shipped, paths[file_type], file_type)
        reference = GGUFModel(shipped)
        chats = {lang: reference.tokenize(text, add_special=True, parse_special=True) for lang, text in CHATS.items()}
        shipped_probs = {lang: log_probs(shipped, tokens) for lang, tokens in chats.items()}
        for name, path in paths.items():
            figures = {k: round(v, 4) for k, v in speed(path).items()}
            for lang, tokens in chats.items():
                ref, other = shipped_probs[lang], log_probs(path, tokens)
                nll = -float(np.mean([other[i, tokens[i + 1]] for i in range(len(tokens) - 1)]))
                figures[f"{lang}_kl"] = round(float((np.exp(ref) * (ref - other)).sum(1).mean()), 4)
                figures[f"{lang}_top1"] = round(float((ref.argmax(1) == other.argmax(1)).mean()), 3)
                figures[f"{lang}_nll"] = round(nll, 3)
            print(name, path.stat().st_size, figures)


if __name__ == "__main__":
    main()
