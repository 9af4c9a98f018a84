"""Rebuild openai-openapi-subset.json from OpenAI's published spec (github.com/openai/openai-openapi).

    git clone https://github.com/openai/openai-openapi && python tests/contract/make_subset.py openai-openapi

Keeps the response schemas habla's contract tests validate against, and every schema they reference, with the
descriptions and examples stripped (the spec is 3.4 MB; the subset 27 KB) and OpenAPI 3.0's ``nullable: true``
(which OpenAI's 3.1 spec still uses in places, and 3.1 validators ignore) rewritten as 3.1's ``type: [T, "null"]``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOTS = ["CreateTranscriptionResponseJson", "CreateTranscriptionResponseVerboseJson",
         "CreateTranscriptionResponseStreamEvent", "CreateTranslationResponseJson",
         "CreateTranslationResponseVerboseJson", "CreateSpeechRequest", "CreateSpeechResponseStreamEvent",
         "ListModelsResponse", "Model", "CreateChatCompletionResponse", "CreateChatCompletionStreamResponse",
         "ErrorResponse"]
DROP = {"description", "x-oaiMeta", "example", "examples", "x-stainless-const", "x-oaiTypeLabel", "title",
        "x-oaiExpandable", "deprecated"}
OUT = Path(__file__).with_name("openai-openapi-subset.json")


def _strip(node: Any, names: bool = False) -> Any:
    """Drop documentation keys, but not properties that happen to share their names ("title" of a citation)."""
    if isinstance(node, dict):
        out = {k: _strip(v, k == "properties" and not names) for k, v in node.items() if names or k not in DROP}
        if not names and out.pop("nullable", False) is True and isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]  # OpenAPI 3.0's nullable, left in the 3.1 spec: 3.1 spells it so
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        return out
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[1]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def subset(schemas: dict[str, Any]) -> dict[str, Any]:
    keep: dict[str, Any] = {}
    todo = list(ROOTS)
    while todo:
        name = todo.pop()
        if name not in keep:
            keep[name] = _strip(schemas[name])
            todo += sorted(_refs(keep[name]))
    return dict(sorted(keep.items()))


def main(repo: str) -> None:
    spec = json.loads((Path(repo) / "openapi.json").read_text())
    commit = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
    body = {"x-source": {"repository": "https://github.com/openai/openai-openapi", "commit": commit,
                         "path": "openapi.json", "openapi": spec["openapi"], "version": spec["info"]["version"],
                         "made_by": "tests/contract/make_subset.py"},
            "components": {"schemas": subset(spec["components"]["schemas"])}}
    OUT.write_text(json.dumps(body, indent=1, sort_keys=False) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
