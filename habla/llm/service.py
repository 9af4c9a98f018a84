"""The configured LLM, shared by the CLI, the server and the voice loop: built from settings, loaded lazily,
unloaded when idle (embedded), with the defaults of every chat and assistant call in one place."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Generic, TypeVar, cast

from habla.config import AssistantSettings, LLMSettings, Settings
from habla.errors import HablaError, InvalidOption, LLMUnavailable, ModelCorrupt, ModelNotFound
from habla.llm import word_vectors
from habla.llm.assistant import NOT_OPTIONS, Assistant, AssistantOptions, Reranker
from habla.llm.embeddings import SegmentSimilarity
from habla.llm.paraphrase import Paraphrases
from habla.llm.protocol import ChatMessage, ChatOptions, ChatStream, LLMEngine
from habla.models.catalog import ALL_MODELS
from habla.models.manager import ModelManager
from habla.models.store import ModelStore

T = TypeVar("T")

log = logging.getLogger(__name__)


def gguf_path(store: ModelStore, name_or_path: str) -> Path:
    """A .gguf file given by path, or a catalog LLM found (and verified) through the model store."""
    path = Path(name_or_path).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelNotFound(f"GGUF file {path} does not exist")
        return path
    spec = ALL_MODELS.get(name_or_path)
    if spec is None or spec.family != "llm":
        known = ", ".join(n for n, s in ALL_MODELS.items() if s.family == "llm")
        raise ModelNotFound(f"unknown LLM {name_or_path!r}", hint=f"known: {known}, or a path to a .gguf file")
    folder = store.locate(name_or_path).path
    for derived in spec.derived:
        try:
            return store.derived(name_or_path, derived, _make_derived(derived.recipe))
        except (HablaError, OSError) as exc:  # a read-only folder, another llama.cpp: the source still works
            log.warning("using %s of %s as is: its %s form is unavailable (%s)", spec.files[0].name, name_or_path,
                        derived.recipe, exc)
    return folder / spec.files[0].name


def _make_derived(recipe: str) -> Callable[[Path, Path], None]:
    kind, _, file_type = recipe.partition(":")
    if kind != "gguf":
        raise InvalidOption(f"unknown recipe {recipe!r}")
    from habla.llama_cpp_adapter import requantize

    return lambda source, target: requantize(source, target, file_type)


def open_engine(llm: LLMSettings, store: ModelStore) -> LLMEngine:
    """Build the engine the settings describe (no sharing: the service below shares one)."""
    if llm.backend == "remote":
        if not llm.base_url:
            raise InvalidOption("HABLA_LLM__BACKEND=remote needs HABLA_LLM__BASE_URL",
                                hint="e.g. http://127.0.0.1:11434/v1 for Ollama")
        from habla.llm.remote import RemoteEngine

        return RemoteEngine(llm.base_url, llm.model, api_key=llm.api_key.get_secret_value() if llm.api_key else None,
                            timeout=llm.timeout_seconds, connect_timeout=llm.connect_timeout_seconds,
                            context_size=llm.context_size)
    from habla.llm.embedded import EmbeddedEngine

    name = Path(llm.model).stem if llm.model.endswith(".gguf") else llm.model
    return EmbeddedEngine(gguf_path(store, llm.model), name=name, context_size=llm.context_size,
                          threads=llm.threads, batch_size=llm.batch_size)


def open_paraphrases(assistant: AssistantSettings, store: ModelStore, extract: bool = False) -> Paraphrases | None:
    """Question words matched to the transcript's other words, or None (exact words only) when off or missing.

    The table is read out of the GGUF only with ``extract`` (`habla models prepare`, the benchmark): that takes a
    minute, which a question must not wait for.
    """
    if not assistant.word_vectors:
        return None
    try:
        vectors = word_vectors.cached(gguf_path(store, assistant.word_vectors), extract_missing=extract)
    except (ModelNotFound, ModelCorrupt, LLMUnavailable) as exc:
        log.warning("answers match exact words only: word vectors from %s unavailable (%s)",
                    assistant.word_vectors, exc)
        return None
    if vectors is None:
        log.warning("answers match exact words only: the word vectors of %s are not extracted yet "
                    "(`habla models prepare` extracts them)", assistant.word_vectors)
        return None
    return Paraphrases(vectors, assistant.paraphrase_similarity)


def open_reranker(assistant: AssistantSettings, store: ModelStore) -> Reranker | None:
    """The query-likelihood reranker, or None (the lexical rank alone) when off or its model is missing."""
    if not assistant.reranker:
        return None
    from habla.llm.rerank import QueryLikelihood

    try:
        return QueryLikelihood(gguf_path(store, assistant.reranker))
    except (ModelNotFound, ModelCorrupt, LLMUnavailable) as exc:
        log.warning("answers are not reranked: %s unavailable (%s)", assistant.reranker, exc)
        return None


def open_similarity(assistant: AssistantSettings, store: ModelStore) -> SegmentSimilarity | None:
    """Sentence embeddings for the assistant's retrieval, or None (words alone) when off or not installed."""
    if not assistant.embedder:
        return None
    spec = ALL_MODELS.get(assistant.embedder)
    if spec is None or spec.family != "embed":
        known = ", ".join(n for n, s in ALL_MODELS.items() if s.family == "embed")
        raise InvalidOption(f"unknown sentence-embedding model {assistant.embedder!r}", hint=f"known: {known}")
    from habla.llm.embeddings import E5Embedder

    try:
        weights = store.locate(assistant.embedder).path / spec.files[0].name
        return SegmentSimilarity(E5Embedder(weights, assistant.embedder))
    except (ModelNotFound, ModelCorrupt, LLMUnavailable) as exc:
        log.warning("answers match words only: sentence embeddings %s unavailable (%s)", assistant.embedder, exc)
        return None


def chat_options(llm: LLMSettings, **overrides: object) -> ChatOptions:
    values: dict[str, object] = dict(max_tokens=llm.max_tokens, temperature=llm.temperature,
                                     repeat_penalty=llm.repeat_penalty)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return ChatOptions(**values)  # type: ignore[arg-type]


def assistant_options(a: AssistantSettings, llm: LLMSettings) -> AssistantOptions:
    return AssistantOptions(**a.model_dump(exclude=NOT_OPTIONS), repeat_penalty=llm.repeat_penalty,
                            temperature=llm.temperature)


class LazyEngine:
    """The service's engine, taken (and held until ``stack`` closes) when first needed."""

    def __init__(self, service: LLMService, stack: ExitStack) -> None:
        self._service, self._stack = service, stack
        self._engine: LLMEngine | None = None
        self.name = service.model_name
        self.context_size = service.llm.context_size  # the model's own once loaded (it may be smaller)

    def _get(self) -> LLMEngine:
        if self._engine is None:
            self._engine = self._stack.enter_context(self._service.engine())
            self.context_size = self._engine.context_size
        return self._engine

    def chat(self, messages: Sequence[ChatMessage], options: ChatOptions,
             cancel: threading.Event | None = None) -> ChatStream:
        return self._get().chat(messages, options, cancel)

    def count_tokens(self, text: str) -> int:
        return self._get().count_tokens(text)

    def count_chat_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return self._get().count_chat_tokens(messages)

    def close(self) -> None:  # the service owns the engine
        pass


class _LoadOnce(Generic[T]):
    """A value loaded on first use, by one thread, and kept (None, "off or not installed", included)."""

    def __init__(self, load: Callable[[], T]) -> None:
        self._load, self._lock = load, threading.Lock()
        self._loaded, self._value = False, cast(T, None)

    def get(self) -> T:
        with self._lock:
            if not self._loaded:
                self._value, self._loaded = self._load(), True
            return self._value


class LLMService:
    """Thread-safe. ``with service.engine() as llm:`` holds the model while in use."""

    KEY = "llm"

    def __init__(self, llm: LLMSettings, assistant: AssistantSettings, store: ModelStore) -> None:
        self.llm, self.assistant_settings, self.store = llm, assistant, store
        self.models: ModelManager[LLMEngine] = ModelManager(self._load, idle_seconds=llm.idle_unload_seconds)
        self._paraphrases = _LoadOnce(lambda: open_paraphrases(self.assistant_settings, self.store))
        self._reranker = _LoadOnce(lambda: open_reranker(self.assistant_settings, self.store))
        self._similarity = _LoadOnce(lambda: open_similarity(self.assistant_settings, self.store))

    @classmethod
    def from_settings(cls, settings: Settings, store: ModelStore | None = None) -> LLMService:
        """From the whole configuration, with a store of its own unless one is shared."""
        return cls(settings.llm, settings.assistant, store or ModelStore(settings.models))

    @property
    def model_name(self) -> str:
        return self.llm.model

    @contextmanager
    def engine(self) -> Iterator[LLMEngine]:
        with self.models.use(self.KEY) as engine:
            yield engine

    def warm(self) -> None:
        with self.engine():
            pass

    def chat_options(self, **overrides: object) -> ChatOptions:
        return chat_options(self.llm, **overrides)

    def assistant_options(self) -> AssistantOptions:
        return assistant_options(self.assistant_settings, self.llm)

    @contextmanager
    def assistant(self) -> Iterator[Assistant]:
        """An assistant whose engine is loaded on its first LLM call: extractive summaries and quoted answers
        need none, and then cost no model load."""
        with ExitStack() as stack:
            yield Assistant(LazyEngine(self, stack), self.assistant_options(), self.paraphrases(), self.reranker(),
                            self.similarity())

    def paraphrases(self) -> Paraphrases | None:
        """The word vectors questions are matched with, loaded once; None when off or not installed."""
        return self._paraphrases.get()

    def reranker(self) -> Reranker | None:
        """The answers' reranker, loaded on the first question (Gemma 3 270M: ~0.3 s) and kept; None when off."""
        return self._reranker.get()

    def similarity(self) -> SegmentSimilarity | None:
        """The sentence embeddings questions are matched with, loaded once (~0.1 s); None when off or missing."""
        return self._similarity.get()

    def close(self) -> None:
        self.models.unload_all()

    def _load(self, key: Hashable) -> LLMEngine:
        return open_engine(self.llm, self.store)
