"""Every default habla uses lives here: one pydantic-settings object, read from HABLA_* variables and .env.

Nested groups use a double underscore: ``HABLA_ASR__BEAM_SIZE=5``, ``HABLA_SERVER__PORT=9000``.
Unknown ``HABLA_*`` variables are an error, so a misspelt setting never silently does nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
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
    client_dirs: list[Path] = Field(default_factory=list, description="Folders whose model sub-folders a client "
                                    "may name by path (jobs, transcriptions); none = catalog and registered names only.")
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
    condition_on_previous_text: bool | None = Field(
        None, description="Prompt each batch with the text decoded before it; unset = with beam search only.")
    # Re-decoding guards (habla/asr/pipeline.py); the figures that chose them are in docs/asr.md.
    redecode_suspect: bool = Field(True, description="Decode again, without the previous-text prompt and then with "
                                   "temperature fallback, a chunk that repeats its prompt or looks like a bad decode.")
    prompt_overlap: float = Field(0.5, gt=0, le=1, description="A chunk whose word 3-grams are at least this share "
                                  "copied from its prompt is decoded again without it.")
    max_compression_ratio: float = Field(2.4, gt=1, description="Text more compressible than this (gzip ratio) is a "
                                         "loop: decode again (Whisper's own threshold).")
    # Off by default: on the tuning variants (4 min each, en + es, ordered and noise-bed) re-decoding chunks under
    # Whisper's -1.0 changed no English word, cost Spanish noise-bed +0.23 WER points, and made the noise-bed files
    # 30-50 % slower (temperature sampling of noisy chunks); prompt copies and loops are caught by the other rules.
    min_avg_logprob: float | None = Field(None, le=0, description="If set, a decode less likely than this (mean token "
                                          "log-probability; Whisper uses -1.0) is decoded again.")
    fallback_temperatures: tuple[float, ...] = Field(
        (0.2, 0.4, 0.6), description="Sampling temperatures tried, in order, when a chunk is still bad without prompt.")
    resume_incomplete: bool = Field(True, description="Decode again the speech after a chunk's last word, and a chunk "
                                    "with too little text for its speech in smaller pieces.")
    drop_repeated_redecodes: bool = Field(True, description="Discard a re-decoded piece whose text repeats what its "
                                          "chunk already said (the words were timed too early, not missing).")
    # Measured together with the VAD fix (habla/audio/vad.py) on 14 tuning-seed files (docs/asr.md): Spanish
    # long-pauses tuning-2 31.35 -> 25.41 % WER (a 20-word phrase at a chunk's start came back; faster-whisper
    # 36.76 %), English ordered tuning-3 13.41 -> 3.41 % (51 words after 30-s hard cuts), shuffled es 11.48 -> 10.16,
    # noise-bed en 2.03 -> 1.78; one file lost one word (shuffled es tuning-3 13.39 -> 13.69), 9 unchanged.
    redecode_skipped: bool = Field(True, description="With resume_incomplete: decode again a speech region (≥ 1 s) "
                                   "before a chunk's last word in which no word was decoded (a skipped phrase).")
    idle_unload_seconds: float = Field(600.0, description="Unload an unused model after this long; -1 never, 0 at once.")
    trimmed_detection: bool = Field(True, description="Detect the language on the speech's length + 3 s (at least "
                                    "8 s) instead of a 30-s window: 8x cheaper for short requests, as accurate on "
                                    "the test clips (scripts/bench_trimmed_detection.py; docs/server.md).")
    # On by default since issue 17's fifth round, for English (greedy): English clips <= 8 s, full against trimmed
    # windows, WER 2.83 against 2.83 % at 7.6x less CPU (tuning half 2.49 -> 2.85, held-out half 3.16 -> 2.81); Spanish
    # (beam 5) 14.48 -> 15.17 %, so Spanish keeps full windows. 50 SDK clients x 2 short English clips: 3.47 -> 20.99
    # audio s/s, p50 31.4 -> 4.5 s, WER 4.5 -> 4.6 % (scripts/bench_server.py --compare; docs/server.md).
    short_window_seconds: float = Field(
        8.0, ge=0, le=25, description="Batches of chunks no longer than this are encoded on a window of their "
        "longest chunk + 3 s (at least 8 s) instead of Whisper's 30 s, text only (no word timings unless asked "
        "for); 0 = always 30 s. See docs/server.md for the measurement.")
    short_window_languages: list[str] = Field(
        ["en"], description="Languages whose short chunks use short windows (measured not to lose accuracy).")


class DiarizeSettings(BaseModel):
    """Who spoke when: CAM++ speaker embeddings of sliding windows over speech, clustered (docs/diarize.md)."""

    model: str = Field("campplus-zh-en", description="Speaker-embedding model (catalog name).")
    window_seconds: float = Field(1.5, ge=0.5, le=5.0, description="Audio per speaker embedding.")
    # 1.0 rather than 0.75, for what --diarize costs: on a 9.6-min conversation (scripts/bench_diarize_overhead.py
    # --hops 0.75,1.0, one run, load 14-20) plain transcription took 52.2 s of CPU, +28.9 s with speakers at a
    # 0.75 s hop, +18.3 s at 1.0 s; tuning DER 1.3 % against 2.3 %, count exact 30/30 both (docs/diarize.md).
    hop_seconds: float = Field(1.0, ge=0.1, le=5.0, description="Step between embedding windows; a speaker change "
                               "is placed to within about half of this.")
    # Tuned on the 30 tuning conversations only (docs/diarize.md, `scripts/tune_diarize.py`), with the rule that a
    # speaker owns two consecutive windows. Hop 0.75: threshold 0.42 DER 2.4 % (count exact 28/30), 0.45 1.3 %
    # (30/30), 0.47 1.5 % (29/30), 0.50 2.8 % (27/30), all with min_speaker_seconds 5; at 0.45, 2 s 1.5 % (27/30),
    # 4 s 1.4 % (29/30), 5 and 6 s 1.3 % (30/30). Hop 1.0, 5 s: 0.42 3.3 % (27/30), 0.45 2.3 % (30/30),
    # 0.47 3.3 % (28/30), 0.50 3.8 % (27/30).
    threshold: float = Field(0.45, gt=0, lt=2, description="Cosine distance at which clustering stops merging "
                             "speakers (average linkage); larger finds fewer speakers.")
    # Stop 15, tuned on the tuning and voices-tune splits only (scripts/tune_diarize.py, docs/diarize.md): ahc DER
    # 1.7 % / 10.1 %, count exact 29/30 / 18/30; ahc-split 2.4 % / 4.3 %, 28/30 / 24/30.
    clustering: Literal["ahc", "ahc-split", "spectral"] = Field(
        "ahc-split", description="'ahc': average-linkage clustering stopped at `threshold`; 'ahc-split': then each "
        "speaker split where spectral clustering of its windows finds parts at least `split_min_distance` apart "
        "(near-identical voices); 'spectral': eigengap count, k-means.")
    # Tuning splits, ahc-split: neighbours 6 / 8 / 10 (distance 0.33): DER 2.7 / 2.4 / 2.4 % on tune, 4.4 / 4.3 /
    # 5.0 % on voices-tune; distance 0.30-0.33 the same at 8 neighbours, 0.36 voices-tune 7.9 % (21/30);
    # split_min_windows 8 / 12 / 16 the same.
    split_neighbours: int = Field(8, ge=2, le=100, description="ahc-split: most similar windows each window keeps "
                                  "in the affinity graph.")
    # A fixed 8 split one speaker of a 10-minute tuning conversation (~110 windows each) into utterance groups:
    # 2 of 3 long tuning conversations got 5 speakers for 4; a share of 0.15 or 0.2 found 4 in all three, the
    # tuning splits unchanged (their speakers have < 40 windows).
    split_neighbour_share: float = Field(0.2, ge=0, le=1, description="ahc-split: or this share of the speaker's "
                                         "windows, if more.")
    split_min_distance: float = Field(0.33, gt=0, lt=2, description="ahc-split: average cosine distance every pair "
                                      "of parts must keep for a speaker to be split.")
    split_min_windows: int = Field(12, ge=12, description="ahc-split: speakers with fewer windows are not split.")
    spectral_pval: float = Field(0.02, gt=0, le=1, description="Spectral: share of most similar windows each "
                                 "window keeps in the affinity graph.")
    min_speaker_seconds: float = Field(5.0, ge=0, description="A cluster with less speech than this (summed over "
                                       "its overlapping windows: 5 s takes four 1.5 s windows, 4.5 s of speech at a "
                                       "1 s hop) is folded into the nearest speaker (stray windows, overlaps).")
    max_speakers: int = Field(20, ge=1, le=100, description="Most speakers found when no count is given.")
    known_speaker_threshold: float = Field(0.5, ge=-1, le=1, description="Cosine similarity a speaker must "
                                           "reach with a reference clip to take its name.")
    # ONNX Runtime: 555 windows of a 9.6-min conversation, one thread, 16.6 / 17.1 s of CPU against torch's 27.9 /
    # 26.3 s (two interleaved rounds, load 19-22), the same embeddings (cosine 0.9999999); habla/diarize/onnx_export.py.
    runtime: Literal["onnx", "torch"] = Field("onnx", description="Speaker-embedding runtime: 'onnx' (ONNX Runtime, a "
                                              "graph exported once from the torch weights into the models cache) or "
                                              "'torch'.")
    batch_size: int = Field(32, ge=1, le=512, description="Windows embedded together.")
    background: bool = Field(False, description="With a transcription, embed each block on a thread of its own "
                             "while the block is transcribed (wall time, not CPU); off: before the block is "
                             "transcribed.")
    # One thread: on a busy 2-core machine two torch threads spin-wait for each other, costing 5.6x the CPU per
    # window (32 windows: 7.6 s against 1.35 s of CPU, load 19); speed comes from running beside Whisper instead.
    threads: int = Field(1, ge=0, description="CPU threads for speaker embeddings (ONNX Runtime or torch); "
                         "0 = one per core.")
    idle_unload_seconds: float = Field(600.0, description="Unload an unused model after this long; -1 never, 0 at once.")


class BatchingSettings(BaseModel):
    """Dynamic batching: speech chunks of every in-flight transcription meet in one queue in front of the loaded
    model and are decoded together (docs/server.md, "Batching")."""

    enabled: bool = Field(False, description="Decode chunks of concurrent transcriptions together; off = each "
                          "transcription calls the model alone. On 2 CPU cores batches of 30-s windows cost what "
                          "their chunks cost alone (-35 % to +30 % over six runs); with window packing (below) 50 "
                          "concurrent short requests went 2.3-4.2x faster (docs/server.md). Still off by default: the "
                          "throughput of concurrent long jobs on one model worker is not measured yet.")
    max_batch: int = Field(8, ge=1, le=64, description="Chunks decoded in one model call (the pipeline's own "
                           "batch size; a GPU takes 16-32).")
    max_wait_ms: float = Field(10.0, ge=0, le=1000, description="How long the oldest queued chunk may wait for "
                               "others before its batch goes, when the batch is not full.")
    fill_wait_ms: float = Field(250.0, ge=0, le=5000, description="How long the oldest queued chunk may wait "
                                "instead, while other transcriptions have started but not yet queued their speech "
                                "(their uploads are being decoded): their chunks fill the batch's windows. A request "
                                "alone still waits max_wait_ms.")
    max_job_chunks: int = Field(2, ge=1, le=64, description="Job chunks in one batch: a batch in progress delays "
                                "an interactive request by its length, so long jobs go in small batches.")
    job_boost_seconds: float = Field(30.0, ge=0, description="A job chunk waiting this long is served as "
                                     "interactive, so jobs never starve under constant interactive load.")
    workers: int = Field(1, ge=1, le=16, description="Batches decoded at once (scheduler threads, and model "
                         "workers, each ~260 MB on CPU): two overlap one batch's Python work with another's model "
                         "time.")
    pack_windows: bool = Field(True, description="With batching on: lay several short chunks of compatible "
                               "requests in one 30-s Whisper window, separated by silence, decode it once and split "
                               "the words back by time (habla/asr/packing.py; docs/server.md, \"Window packing\"). "
                               "A chunk whose words cannot be split is decoded alone. Measured on 2 shared cores: "
                               "2.3-4.2x the throughput of 50 concurrent short requests over four runs, WER 4.5 -> "
                               "1.1-3.9 %, a request alone +3 %.")
    pack_rounds: int = Field(2, ge=1, le=8, description="Times the chunks whose words could not be split are "
                             "packed again (while each time splits some) before the rest are decoded alone.")
    pack_gap_seconds: float = Field(1.0, ge=0.5, le=5.0, description="Silence between packed chunks: word times "
                                    "from cross-attention are off by a few tenths of a second, so a gap of 1 s "
                                    "keeps every word on its own side.")
    pack_max_chunk_seconds: float = Field(10.0, ge=1.0, le=29.0, description="Chunks longer than this are never "
                                          "packed (long files' chunks fill a window on their own).")
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
    storage_url: str | None = Field(
        None, description="Object store for uploads, results and tutor files instead of storage_dir: "
        "s3://bucket/prefix (AWS S3, MinIO, Ceph...). Unset = the local folder.")
    storage_endpoint_url: str | None = Field(
        None, description="S3 endpoint, e.g. http://minio:9000; unset = AWS (or AWS_ENDPOINT_URL).")
    storage_region: str | None = Field(None, description="S3 region; unset = AWS_REGION / the profile's.")
    storage_access_key_id: str | None = Field(
        None, description="S3 access key; unset = the usual AWS chain (AWS_* variables, AWS_PROFILE, instance role).")
    storage_secret_access_key: SecretStr | None = Field(None, description="S3 secret key (with the access key).")
    storage_part_mb: int = Field(8, ge=5, le=512, description="S3 multipart part size. Memory per upload is about "
                                 "part × (storage_concurrency + 1); 8 MB × 4 measured ~40 MB (docs/storage.md).")
    storage_concurrency: int = Field(4, ge=1, le=32, description="Parts of one S3 upload or download sent at once.")
    storage_timeout_seconds: float = Field(10.0, gt=0, description="S3 connect and read timeout of one request.")
    storage_checksums: bool = Field(
        False, description="Hash every S3 request body (SHA-256 payload signature, CRC32 checksum) as botocore does "
        "by default. Off: bodies are sent as UNSIGNED-PAYLOAD and checksums only where S3 requires one, relying on "
        "TLS (https) or TCP (a store on the local network) for integrity; the two hashes cost the API ~1 CPU-s per "
        "uploaded GB (docs/storage.md).")
    storage_retry_seconds: float = Field(
        60.0, ge=0, description="A worker retries a failing store this long (exponential backoff) before it "
        "hands the job back to the queue, which runs it again later.")
    storage_redirects: bool = Field(
        False, description="Answer /v1/jobs/{id}/audio (and /result?format=json of a job with word timestamps, "
        "the one result served as stored) with a redirect to a presigned S3 URL (clients must reach the store; "
        "?redirect=false still streams through the API).")
    storage_presign_seconds: int = Field(300, ge=10, le=604800, description="Lifetime of a presigned URL.")
    live_flush_seconds: float = Field(
        0.5, ge=0, description="Live segments of a running job are rewritten in the store at most this often "
        "(an S3 object cannot be appended to; each write is one PUT, in the background).")
    workers: int = Field(1, ge=1, le=64, description="Jobs run at once by the embedded pool.")
    max_upload_mb: int = Field(2048, ge=1, description="Largest accepted upload.")
    max_pending: int = Field(100, ge=1, description="Queued and running jobs at most; a submit beyond gets 429 + "
                             "Retry-After (each one holds an upload on disk).")
    retry_after_seconds: float = Field(30.0, gt=0, description="Retry-After sent with a full job queue.")
    retention_days: float = Field(7.0, ge=0, description="Finished jobs and their files are deleted after this; 0 = keep.")
    sweep_seconds: float = Field(600.0, gt=0, description="How often the retention sweep runs.")
    lease_seconds: float = Field(30.0, ge=2, description="A running job whose worker stops renewing this long is re-queued.")
    max_attempts: int = Field(3, ge=1, description="Runs (lost workers included) before a job is marked failed.")
    progress_seconds: float = Field(0.5, gt=0, description="Least interval between progress writes.")
    webhook_timeout_seconds: float = Field(10.0, gt=0, description="Per-try limit on a whole webhook exchange "
                                           "(connect, send, response headers and the bounded body read).")
    webhook_allow_hosts: list[str] = Field(default_factory=list, description="Hosts or networks (CIDR) webhooks "
                                           "may reach although private, loopback or link-local, e.g. "
                                           "['127.0.0.1', '10.0.0.0/8']; public addresses need no entry.")
    webhook_workers: int = Field(4, ge=1, le=64, description="Webhook deliveries at once; a receiver is given at "
                                 "most one of them, so a slow one cannot hold up the others.")
    webhook_retries: int = Field(3, ge=0, le=10, description="Extra tries of a failed webhook, with backoff.")
    webhook_secret: SecretStr | None = Field(None, description="If set, webhooks carry an HMAC-SHA256 signature header.")


class LLMSettings(BaseModel):
    """The LLM behind chat, summaries and questions: embedded llama.cpp (default) or any OpenAI-compatible server."""

    backend: Literal["embedded", "remote"] = Field(
        "embedded", description="'embedded' runs a GGUF in-process (llama.cpp); 'remote' calls an OpenAI-compatible URL.")
    model: str = Field("smollm2-135m", description="Embedded: catalog name or path to a .gguf file. Remote: model id. "
                       "smollm2-135m is instruction-tuned (replies end); gemma-3-270m is a pretrained base model.")
    base_url: str | None = Field(None, description="Remote endpoint, e.g. http://127.0.0.1:11434/v1 (Ollama).")
    api_key: SecretStr | None = Field(None, description="Remote API key; most local servers need none.")
    timeout_seconds: float = Field(120.0, gt=0, description="Remote: longest wait for a whole reply (or between chunks).")
    connect_timeout_seconds: float = Field(5.0, gt=0, description="Remote: longest wait to connect.")
    context_size: int = Field(8192, ge=512, description="Tokens of context (embedded n_ctx; assumed for a remote model).")
    threads: int = Field(0, ge=0, description="Embedded CPU threads; 0 = one per physical core.")
    batch_size: int = Field(512, ge=32, description="Embedded prompt tokens evaluated per llama.cpp batch.")
    max_tokens: int = Field(512, ge=1, description="Default longest reply.")
    max_messages: int = Field(256, ge=1, description="Most messages in one chat request (the prompt must also fit "
                              "the context, and the body HABLA_SERVER__MAX_BODY_KB).")
    temperature: float = Field(0.0, ge=0, le=2, description="Default sampling temperature; 0 = greedy (reproducible).")
    repeat_penalty: float = Field(1.15, ge=1, le=2, description="Default repetition penalty (small models loop without it).")
    idle_unload_seconds: float = Field(600.0, description="Unload an unused embedded model after this long; -1 never, 0 at once.")


class AssistantSettings(BaseModel):
    """Summaries and questions over a transcript (`habla summarize/ask`, /v1/jobs/{id}/summary and /ask).

    Constants chosen on the "tune" half of tests/data/assistant_eval (scripts/bench_assistant.py, docs/llm.md).
    """

    style: Literal["bullets", "paragraph", "actions", "chapters"] = Field(
        "bullets", description="Default summary style: bullets, a paragraph, action items, or chapters with titles.")
    topic_window: int = Field(3, ge=1, le=20, description="Sentences each side of a gap compared to find topic changes.")
    topic_min_sentences: int = Field(2, ge=1, le=50, description="Shortest topic, in sentences.")
    max_topics: int = Field(40, ge=1, le=500, description="Most topics (bullets, chapters) in one summary.")
    salient_per_topic: int = Field(3, ge=1, le=10, description="Sentences picked to stand for each topic.")
    salient_min_share: float = Field(0.5, gt=0, le=1, description="A second pick must score this share of the best.")
    compress_with_llm: bool = Field(False, description="Let the LLM compress a topic's long picks into one sentence "
                                    "(kept only if it passes the citation and fact checks). Off: SmolLM2-135M's "
                                    "compressions failed the checks 20 times in 22 (docs/llm.md), costing time only.")
    compress_min_words: int = Field(25, ge=0, description="With compress_with_llm: picks shorter than this are quoted "
                                    "as said (no LLM call).")
    answer_with_llm: bool = Field(False, description="Let the LLM phrase answers from the best segment and its "
                                  "neighbours (checked against them); off: the best segment is quoted as said.")
    summary_tokens: int = Field(48, ge=8, le=512, description="Longest compressed sentence, in tokens.")
    title_tokens: int = Field(16, ge=4, le=64, description="Longest chapter title, in tokens.")
    answer_tokens: int = Field(64, ge=8, le=512, description="Longest answer, in tokens.")
    context_segments: int = Field(8, ge=1, le=100, description="Segments retrieved as candidates for a question.")
    neighbours: int = Field(0, ge=0, le=10, description="Segments either side of the best one shown to the LLM "
                            "(answer_with_llm). 0: with 1, SmolLM2-135M merged a neighbour's fact into the answer.")
    warm_languages: list[str] = Field(["en", "es"], description="Languages whose lemma dictionaries `habla serve` "
                                      "loads at start, so the first question does not pay for it (load 21: en 0.5-0.9 s, "
                                      "es 1.0-1.3 s and 29 MB).")
    word_vectors: str | None = Field("gemma-3-270m", description="Catalog LLM (or .gguf path) whose token "
                                     "embeddings match question words the transcript says in other words "
                                     "('completed' / 'finished'); extracted once beside the model (36 MB). None: "
                                     "exact words only. Gemma's vocabulary is multilingual; SmolLM2's is English.")
    paraphrase_similarity: float = Field(0.5, ge=0, le=1, description="Cosine similarity from which a transcript "
                                         "word stands for a question word, credited by that similarity. On the "
                                         "looked-at transcripts (tune to heldout4), right / refused: 0.5: en "
                                         "78/95, 29/32, es 81/89, 25/30; 0.45: en 80/95, 24/32; 0.6: en 75/95, "
                                         "30/32; off: en 73/95, 31/32, es 80/89, 27/30.")
    # Off by default: on the looked-at splits (tune..heldout5, 240 answerable questions) Gemma 3 270M's query
    # likelihood at weight 0.1 / 0.25 / 0.5 / 1.0 gave en 98 / 97 / 98 / 90 of 123 right and es 96 / 95 / 95 / 92 of
    # 117, against 97 and 97 without it; on heldout6 (measured once) it changed no answer. Refusals were unchanged.
    reranker: str | None = Field(None, description="Catalog LLM (or .gguf path, e.g. gemma-3-270m) that reranks a "
                                 "question's best candidate segments by how likely the question is after each "
                                 "(query likelihood; habla/llm/rerank.py). None: the lexical rank alone.")
    rerank_candidates: int = Field(2, ge=0, le=10, description="Candidates the reranker reads (one passage "
                                   "prefill each); below 2: no reranking.")
    rerank_weight: float = Field(0.25, ge=0, le=10, description="Weight of the query likelihood (nats per question "
                                 "token, less the question's own) against the lexical rank relative to the best.")
    min_coverage: float = Field(0.55, ge=0, le=1, description="IDF-weighted share of a question's words the best "
                                "segment (and, at lower weight, its neighbours) must say, without sentence embeddings; "
                                "else 'not in the transcript'. 0.55: on the 23 looked-at transcripts 113/128 answered right and "
                                "44/46 refused; 0.5: 113/128 and 40/46; 0.6: fewer right (docs/llm.md).")
    # Sentence embeddings (habla/llm/embeddings.py). The four constants below were chosen together by a grid search
    # on the looked-at splits (tune..heldout6, 398 questions; heldout7 left out), maximising right answers plus
    # refused unanswerable questions: 305 against 293 for words alone; heldout6 alone 44 against 38 (of 80).
    embedder: str | None = Field("multilingual-e5-small", description="Catalog sentence-embedding model that "
                                 "matches questions to segments by meaning, in any language (a question asked in "
                                 "the user's words, not the transcript's). None: words alone decide.")
    dense_rank_weight: float = Field(2.0, ge=0, description="Rank a candidate gains per unit of cosine similarity "
                                     "to the question (relative to the closest segment), in shares of the "
                                     "question's words. 0 / 2 / 4 / 6: 303 / 305 / 301 / 301 of 398 on the grid.")
    dense_refusal_weight: float = Field(6.0, ge=0, description="With embeddings, a question is answered when the "
                                        "best segment's word share plus this times (similarity - dense_anchor) "
                                        "reaches dense_min_evidence; else 'not in the transcript'. 4 / 6 / 8: "
                                        "297 / 305 / 303 on the grid.")
    dense_anchor: float = Field(0.85, ge=-1, le=1, description="Similarity at which meaning adds nothing to the "
                                "words (e5 similarities of unrelated text sit around 0.75-0.8, of answers 0.85-0.9). "
                                "0.84 / 0.85 / 0.86: 295 / 305 / 302 on the grid.")
    dense_min_evidence: float = Field(0.3, ge=0, le=2, description="See dense_refusal_weight. 0.3 / 0.4 / 0.55 (the "
                                      "words-only bar): 305 / 297 / 290 on the grid.")
    dense_full_segments: int = Field(100, ge=0, description="Transcripts up to this many segments are embedded "
                                     "whole on their first question (~17 ms a segment on 2 cores); longer ones "
                                     "only around the word-matched candidates, so no question waits long.")


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


class TurnDetectionSettings(BaseModel):
    """When the user's turn is over (OpenAI Realtime's `turn_detection`): after a fixed silence, or sooner or later
    by what was said (semantic)."""

    type: Literal["semantic", "silence"] = Field("semantic", description="`silence`: the turn ends after "
                                                  "`end_silence_ms` of silence. `semantic`: at each pause the "
                                                  "transcript so far and the pitch at its end decide how long to "
                                                  "wait: `short_silence_ms` after a finished sentence, up to "
                                                  "`long_silence_ms` after an unfinished one.")
    eagerness: Literal["low", "medium", "high"] = Field("medium", description="Semantic only: `high` ends turns "
                                                        "sooner (waits x0.75 short, x0.67 long), `low` later "
                                                        "(x1.5, x1.33).")
    # short_silence_ms, threshold and unsure_threshold: chosen together on the tuning half of `habla bench voice`'s
    # turns (scripts/tune_turn_end.py --grid, docs/talk.md): the fewest early ends (0 of 56 tuning turns), then the
    # shortest silence waited after a complete turn (p50 300 ms). 200 ms left 1 early end: a speaker's own
    # 250-400 ms pause after a finished sentence ("…first in line. ‖ …").
    short_silence_ms: int = Field(300, ge=60, le=2000, description="Semantic, medium: silence that ends a turn "
                                  "that sounds finished.")
    long_silence_ms: int = Field(1500, ge=200, le=5000, description="Semantic, medium: silence that ends a turn "
                                 "that sounds unfinished (a pause mid-sentence is usually shorter).")
    threshold: float = Field(0.6, gt=0, lt=1, description="Semantic: a turn whose end-of-turn probability is at "
                             "least this sounds finished: it ends after `short_silence_ms`.")
    unsure_threshold: float = Field(0.2, ge=0, lt=1, description="Semantic: at or below this end-of-turn probability "
                                    "the turn ends after `long_silence_ms`; between the two thresholds the wait "
                                    "grows geometrically from the short to the long silence.")
    model: str = Field("smollm2-135m", description="Semantic: chat model (catalog name or .gguf path, ChatML) whose "
                       "probability of ending the user's turn after the transcript so far is one cue (LiveKit's "
                       "turn detector); empty: text rules and pitch only.")

    @model_validator(mode="after")
    def _thresholds_in_order(self) -> TurnDetectionSettings:
        if self.unsure_threshold >= self.threshold:
            raise ValueError("turn_detection.unsure_threshold must be below turn_detection.threshold")
        return self


class VoiceSettings(BaseModel):
    """`habla chat` and the /v1/talk WebSocket: turn-taking, the assistant's persona and reply length."""

    language: str = Field("en", description="Language the user speaks and the assistant answers in.")
    persona: str = Field("You are Habla, a friendly voice assistant. Reply in one short spoken sentence.",
                         max_length=4000, description="System prompt of the conversation.")
    voice: str | None = Field(None, description="TTS voice of the assistant; unset = the best voice for `language`.")
    end_silence_ms: int = Field(500, ge=100, le=5000, description="Silence that ends the user's turn "
                                "(`turn_detection` `silence`).")
    pause_ms: int = Field(200, ge=60, le=2000, description="A shorter pause inside a turn: the speech before it is "
                          "decoded at once, so little is left to decode when the turn ends.")
    min_speech_ms: int = Field(250, ge=60, le=5000, description="Shorter sounds (clicks, breaths) never make a turn or a barge-in.")
    min_level_dbfs: float = Field(-45.0, ge=-100, le=0, description="Quieter audio never counts as speech.")
    vad_threshold: float = Field(0.5, gt=0, lt=1, description="Silero speech probability that counts as speech.")
    partial_interval_ms: int = Field(800, ge=200, description="Partial transcripts while the user speaks, at most this often.")
    max_turn_seconds: float = Field(30.0, ge=2, description="A longer turn is ended and answered.")
    max_tokens: int = Field(40, ge=1, le=1024, description="Longest reply, in tokens (short replies answer sooner).")
    max_sentences: int = Field(2, ge=1, le=20, description="The reply stops after this many sentences.")
    first_clause_chars: int = Field(8, ge=0, description="The reply's first piece may end at a clause this many characters in (\"I'm sorry,\"): speech starts after a few tokens.")
    context_tokens: int = Field(1536, ge=256, description="Conversation memory: older turns are dropped beyond this.")
    output_sample_rate: int = Field(16000, ge=8000, le=48000, description="Rate of the reply audio sent to clients.")
    max_sessions: int = Field(4, ge=1, le=64, description="Concurrent /v1/talk sessions of one server.")
    send_timeout_seconds: float = Field(15.0, gt=0, description="A /v1/talk client that takes no data for this long "
                                        "is gone: its session ends (a real client reads 32 KB/s of reply audio).")
    speculative_reply: bool = Field(True, description="Start the reply at a pause, before the turn is known to be "
                                    "over; it is heard only if the turn ends there, and dropped if the user goes on.")
    speculate_ms: int = Field(100, ge=0, le=2000, description="With speculative_reply: silence after which the "
                              "reply starts, sooner than the pause that judges the turn (pause_ms). Its decode is "
                              "kept for that pause, so turn decisions are those of pause_ms; 0 or >= pause_ms: the "
                              "reply starts at the pause.")
    turn_detection: TurnDetectionSettings = Field(default_factory=TurnDetectionSettings)


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
                                      "(JSON list in the environment), plain or as 'sha256:<hex digest>'; each "
                                      "key owns its jobs and sessions. None = no authentication, one shared owner.")
    admin_api_keys: list[SecretStr] = Field(default_factory=list, description="Keys that see and act on every "
                                            "key's jobs and sessions (plain or 'sha256:<hex digest>').")
    max_upload_mb: int = Field(200, ge=1, description="Largest upload to /v1/audio/transcriptions|translations "
                                                      "(OpenAI allows 25 MB; local files are often longer).")
    max_body_kb: int = Field(1024, ge=16, description="Largest JSON body of any other /v1 request (chat, tutor "
                             "personas...): a full 8192-token chat is ~40 KB, so 1 MB leaves room and no more.")
    max_concurrency: int = Field(2, ge=1, le=64, description="Transcriptions run at once. Two overlap one run's VAD "
                                 "and decoding with another's model time: 1.38× the throughput of one on 2 cores, "
                                 "for ~260 MB more memory (docs/server.md).")
    max_queue: int = Field(64, ge=0, description="Requests allowed to wait for a slot (per kind of work: "
                           "transcription, LLM, speech); more get 429 + Retry-After.")
    llm_concurrency: int = Field(1, ge=1, le=64, description="LLM requests (chat, job summary/ask, tutor turns) run "
                                 "at once. The embedded model has one context, so more would only queue inside it; "
                                 "raise it for a remote LLM server.")
    speech_concurrency: int = Field(2, ge=1, le=64, description="Speech syntheses run at once. Piper already uses "
                                    "every core per sentence; two runs interleave sentence by sentence.")
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
    diarize: DiarizeSettings = Field(default_factory=DiarizeSettings)
    batching: BatchingSettings = Field(default_factory=BatchingSettings)
    jobs: JobsSettings = Field(default_factory=JobsSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    assistant: AssistantSettings = Field(default_factory=AssistantSettings)
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
