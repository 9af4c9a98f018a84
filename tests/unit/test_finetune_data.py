"""Fine-tune data and registered models: the split per language, the label layout, bad folders named clearly,
a registered model verified by its manifest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from habla.config import ModelSettings
from habla.errors import InvalidOption, ModelCorrupt
from habla.finetune.data import Clip, load, split
from habla.models.registry import Registration, check_name, register
from habla.models.store import ModelStore
from tests.conftest import SPEECH_DIR


def _clips(lang: str, n: int) -> list[Clip]:
    return [Clip(f"{lang}-{i}", lang, f"text {i}", Path(f"{lang}-{i}.flac"), 2.0) for i in range(n)]


def test_every_language_is_held_out_in_proportion_and_reproducibly() -> None:
    clips = _clips("en", 10) + _clips("es", 5) + _clips("fr", 1)
    first, again = split(clips, 0.2, seed=3), split(list(reversed(clips)), 0.2, seed=3)
    assert [c.id for c in first.validation] == [c.id for c in again.validation]
    held = [c.lang for c in first.validation]
    assert held.count("en") == 2 and held.count("es") == 1 and "fr" not in held  # one clip: all of it trains
    assert not {c.id for c in first.train} & {c.id for c in first.validation}
    assert len(first.train) + len(first.validation) == len(clips)


def test_manifest_clips_over_30_seconds_are_skipped(tmp_path: Path) -> None:
    rows = ["id\tlang\tseconds\ttext", "short\tes\t2.0\thola", "long\tes\t45.0\tlargo", "other\tes\t3.0\tadios"]
    (tmp_path / "manifest.tsv").write_text("\n".join(rows) + "\n")
    for clip_id in ("short", "long", "other"):
        (tmp_path / f"{clip_id}.flac").write_bytes(b"")
    parts = load(tmp_path, 0.5)
    assert sorted(c.id for c in parts.train + parts.validation) == ["other", "short"]


def test_a_manifest_row_without_audio_is_named(tmp_path: Path) -> None:
    (tmp_path / "manifest.tsv").write_text("id\tlang\tseconds\ttext\nmissing\ten\t1.0\thello\n")
    with pytest.raises(InvalidOption, match="no audio file for 'missing'"):
        load(tmp_path)


def test_a_folder_without_manifest_or_dataset_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidOption, match="neither manifest.tsv nor a saved datasets folder"):
        load(tmp_path)


def test_labels_carry_language_task_and_end_of_text() -> None:
    pytest.importorskip("transformers")
    from habla.finetune.processor import default_tokenizer_file, label_ids, load_processor

    tokenizer = load_processor(default_tokenizer_file(ModelSettings()), 80).tokenizer
    ids = label_ids(tokenizer, "Hola mundo", "es")
    assert tokenizer.convert_ids_to_tokens(ids[:3]) == ["<|es|>", "<|transcribe|>", "<|notimestamps|>"]
    assert ids[-1] == tokenizer.convert_tokens_to_ids("<|endoftext|>")
    assert tokenizer.decode(ids[3:-1]) == " Hola mundo"
    with pytest.raises(InvalidOption, match="not a Whisper language"):
        label_ids(tokenizer, "text", "xx")


def test_a_datasets_folder_keeps_its_own_splits(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    flac = next(SPEECH_DIR.glob("ast-es-*.flac"), None)
    if flac is None:
        pytest.skip("test audio not found")
    rows = {"audio": [str(flac)] * 3, "sentence": ["uno", "dos", "tres"], "language": ["es"] * 3}
    ds = datasets.Dataset.from_dict(rows).cast_column("audio", datasets.Audio(decode=False))
    datasets.DatasetDict({"train": ds.select([0, 1]), "validation": ds.select([2])}).save_to_disk(tmp_path / "ds")
    parts = load(tmp_path / "ds")
    assert [c.text for c in parts.train] == ["uno", "dos"] and [c.text for c in parts.validation] == ["tres"]
    first = parts.train[0]
    assert first.lang == "es" and first.audio in (flac, flac.read_bytes())  # saved datasets may embed the bytes
    assert 0 < first.seconds < 30


def test_registered_model_is_listed_and_verified_by_its_manifest(tmp_path: Path) -> None:
    settings = ModelSettings(dir=tmp_path / "models", cache_dir=tmp_path / "cache")
    src = tmp_path / "made"
    src.mkdir()
    for name, data in {"model.bin": b"weights", "config.json": b"{}", "tokenizer.json": b"{}"}.items():
        (src / name).write_bytes(data)
    folder = register(settings, src, Registration("calls-es", "whisper", "a test model", {"base": "base"}))
    assert folder == settings.dir / "calls-es"
    assert json.loads((folder / "habla-model.json").read_text())["origin"] == {"base": "base"}
    store = ModelStore(settings)
    assert store.locate("calls-es").path == folder and store.is_whisper("calls-es")
    status = store.status("calls-es")
    assert status.available and status.description == "a test model"
    with pytest.raises(InvalidOption, match="already exists"):
        register(settings, src, Registration("calls-es", "whisper", "again"))
    (folder / "model.bin").write_bytes(b"tampered")
    with pytest.raises(ModelCorrupt):
        store.verify("calls-es")
    shutil.rmtree(folder)
    assert not store.is_whisper("calls-es")


@pytest.mark.parametrize("name", ["base", "gemma-3-270m", "../x", "a/b", "", "-x"])
def test_names_that_would_shadow_or_escape_are_refused(name: str) -> None:
    with pytest.raises(InvalidOption):
        check_name(name)
