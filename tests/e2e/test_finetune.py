"""habla finetune end to end on a tiny Whisper built here (random weights, small dims) and real clips: training
runs and the loss falls, an interrupted run resumes from its checkpoint, the export loads in faster-whisper and
transcribes through `habla transcribe` and the server; `habla models import` refuses a wrong hash."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import HABLA, SPEECH_DIR, HablaServer, pick

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

TINY = dict(vocab_size=51865, num_mel_bins=80, d_model=64, encoder_layers=2, encoder_attention_heads=2,
            decoder_layers=2, decoder_attention_heads=2, encoder_ffn_dim=128, decoder_ffn_dim=128,
            bos_token_id=50257, eos_token_id=50257, pad_token_id=50257, decoder_start_token_id=50258)


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Hugging Face Whisper folder: random weights, the multilingual tokenizer of the pip-shipped base."""
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    from habla.config import ModelSettings
    from habla.finetune.processor import default_tokenizer_file, load_processor, save_processor

    folder = tmp_path_factory.mktemp("tiny-whisper")
    torch.manual_seed(0)
    WhisperForConditionalGeneration(WhisperConfig(**TINY)).save_pretrained(folder)
    save_processor(load_processor(default_tokenizer_file(ModelSettings()), 80), folder)
    return folder


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, clips: list) -> Path:
    """Eight short Spanish clips and their manifest, as a user would lay them out."""
    folder = tmp_path_factory.mktemp("es-data")
    chosen = pick(clips, "es", 8, max_seconds=6.0)
    lines = ["id\tlang\tseconds\ttext"]
    for clip in chosen:
        shutil.copy(SPEECH_DIR / f"{clip.id}.flac", folder)
        lines.append(f"{clip.id}\t{clip.lang}\t{clip.seconds}\t{clip.text}")
    (folder / "manifest.tsv").write_text("\n".join(lines) + "\n")
    return folder


class StopAt:
    """A trainer callback that interrupts training after a step, as Ctrl-C would."""

    def __init__(self, step: int) -> None:
        from transformers import TrainerCallback

        class _Stop(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003
                if state.global_step >= step:
                    raise KeyboardInterrupt

        self.callback = _Stop()


def test_tiny_finetune_resumes_learns_exports_and_serves(tiny_whisper: Path, data_dir: Path, tmp_path: Path) -> None:
    from habla.config import load_settings
    from habla.finetune.train import FinetuneOptions, finetune

    models, work = tmp_path / "models", tmp_path / "work"
    settings = load_settings(home=tmp_path / "home", models={"dir": models})
    opts = FinetuneOptions(output="tiny-es", base=str(tiny_whisper), max_steps=8, batch_size=4, learning_rate=2e-3,
                           warmup_steps=0, save_steps=3, work_dir=work)
    with pytest.raises(KeyboardInterrupt):
        finetune(data_dir, opts, settings, callbacks=[StopAt(4).callback])
    assert (work / "checkpoints" / "checkpoint-3").is_dir() and not (models / "tiny-es").exists()

    result = finetune(data_dir, opts, settings)
    assert result.resumed_from == "checkpoint-3"
    assert result.steps == 8 and [s for s, _ in result.loss] == list(range(1, 9))  # one curve across the restart
    assert result.loss[-1][1] < result.loss[0][1]  # it learns
    assert result.train_clips == 6 and result.validation_clips == 2
    assert set(result.wer_before) == set(result.wer_after) == {"es"}
    for name in ("report.json", "report.md", "loss.png"):
        assert (work / "report" / name).stat().st_size > 0
    assert (models / "tiny-es" / "habla-model.json").is_file()

    env = {**os.environ, "HABLA_MODELS__DIR": str(models), "HABLA_HOME": str(tmp_path / "home")}
    clip = next(data_dir.glob("*.flac"))
    done = subprocess.run([HABLA, "transcribe", str(clip), "--model", "tiny-es", "-o", str(tmp_path / "out"),
                           "-f", "json", "--language", "es"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / f"{clip.stem}.json").is_file()

    (tmp_path / "server").mkdir()
    server = HablaServer(tmp_path / "server", env={"HABLA_MODELS__DIR": str(models)}).start()
    try:
        listed = {m["id"] for m in server.http.get("/v1/models").json()["data"]}
        assert "tiny-es" in listed
        with clip.open("rb") as fh:
            answer = server.http.post("/v1/audio/transcriptions", data={"model": "tiny-es", "language": "es"},
                                      files={"file": (clip.name, fh, "audio/flac")})
        assert answer.status_code == 200, answer.text
    finally:
        server.stop()


def test_models_import_refuses_a_wrong_hash_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "small.pt"
    bad.write_bytes(os.urandom(4096))
    done = subprocess.run([HABLA, "models", "import", str(bad)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "HABLA_MODELS__DIR": str(tmp_path / "models")})
    assert done.returncode == 3
    assert "not an official Whisper checkpoint" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "models").exists()


def test_lora_adapters_are_merged_into_the_exported_model(tiny_whisper: Path, data_dir: Path, tmp_path: Path) -> None:
    import ctranslate2
    from transformers import WhisperForConditionalGeneration

    from habla.config import load_settings
    from habla.finetune.train import FinetuneOptions, finetune

    settings = load_settings(home=tmp_path / "home", models={"dir": tmp_path / "models"})
    opts = FinetuneOptions(output="tiny-lora", base=str(tiny_whisper), max_steps=4, batch_size=4, learning_rate=5e-3,
                           warmup_steps=0, save_steps=10, work_dir=tmp_path / "work", lora=True, lora_rank=4,
                           evaluate=False)
    result = finetune(data_dir, opts, settings)
    assert result.steps == 4
    base = WhisperForConditionalGeneration.from_pretrained(tiny_whisper).state_dict()
    tuned = WhisperForConditionalGeneration.from_pretrained(tmp_path / "work" / "hf").state_dict()
    assert tuned.keys() == base.keys()  # merged: a plain Whisper, no adapter weights left
    changed = [k for k in base if not torch.equal(base[k], tuned[k])]
    adapted = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")
    assert changed and all(any(m in k for m in adapted) and k.endswith(".weight") for k in changed), changed
    for folder in result.registered.values():  # the merged model exports and loads
        ctranslate2.models.Whisper(folder, device="cpu", compute_type="int8")
