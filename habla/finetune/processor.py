"""The Whisper processor (feature extractor + tokenizer) built from local files only, and the label layout."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from habla.config import ModelSettings
from habla.errors import InvalidOption

if TYPE_CHECKING:
    from transformers import WhisperProcessor, WhisperTokenizerFast

_LANGUAGE_TOKEN = re.compile(r"^<\|([a-z]{2,3}|haw)\|>$")


def default_tokenizer_file(settings: ModelSettings) -> Path:
    """The multilingual tokenizer of the pip-shipped ``base`` model: the same for every 51,865-token Whisper."""
    from habla.models.store import ModelStore

    return ModelStore(settings).locate("base").path / "tokenizer.json"


def load_processor(tokenizer_file: Path, n_mels: int) -> WhisperProcessor:
    from transformers import WhisperFeatureExtractor, WhisperProcessor, WhisperTokenizerFast

    if not tokenizer_file.is_file():
        raise InvalidOption(f"tokenizer file {tokenizer_file} does not exist")
    tokenizer = WhisperTokenizerFast(tokenizer_file=str(tokenizer_file))
    return WhisperProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=n_mels), tokenizer=tokenizer)


def save_processor(processor: WhisperProcessor, folder: Path) -> None:
    """Save where both transformers and the CTranslate2 converter look (``preprocessor_config.json`` too)."""
    processor.save_pretrained(folder)
    processor.feature_extractor.save_pretrained(folder)


def language_ids(tokenizer: WhisperTokenizerFast) -> dict[str, int]:
    """``{"en": 50259, ...}``: the language tokens, read from the vocabulary rather than a hard-coded table."""
    vocab = tokenizer.get_vocab()
    return {m.group(1): i for tok, i in vocab.items() if (m := _LANGUAGE_TOKEN.match(tok))}


def label_ids(tokenizer: WhisperTokenizerFast, text: str, language: str) -> list[int]:
    """Decoder targets: <|lang|><|transcribe|><|notimestamps|> text <|endoftext|>.

    <|startoftranscript|> is left out: the model prepends it as the decoder start token.
    """
    langs = language_ids(tokenizer)
    if language not in langs:
        raise InvalidOption(f"language {language!r} is not a Whisper language",
                            hint="use a two-letter code such as en or es in the manifest's lang column")
    special = tokenizer.convert_tokens_to_ids(["<|transcribe|>", "<|notimestamps|>", "<|endoftext|>"])
    words = tokenizer.encode(" " + text.strip(), add_special_tokens=False) if text.strip() else []
    return [langs[language], special[0], special[1], *words, special[2]]
