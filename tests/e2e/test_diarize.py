"""Speaker diarization end to end on a built conversation of three voices (two recorded, Piper's joe): the engine,
known speakers, `habla transcribe --diarize`, diarized_json through the openai SDK, and a diarized job."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openai
import pytest

from habla.audio.decode import decode
from habla.audio.wav import write_wav
from habla.diarize.corpus import ALL_ESPEAK_VOICES, Conversation, Material, build, tts_synthesizer
from habla.diarize.der import diarization_error
from habla.diarize.protocol import SpeakerOptions
from habla.diarize.rttm import parse_rttm
from tests.conftest import HABLA, SPEECH_DIR, HablaServer
from tests.e2e.test_jobs import Server

VOICES = ("allison", "librivox", "joe")  # English only: one transcription language for the whole talk
# A clip of the English prompt voice that the conversation (built from the other half of the clips) may not use.
ALLISON_REFERENCE = "ast-en-vm-msginstruct"


@pytest.fixture(scope="module")
def conversation() -> Conversation:
    if not (SPEECH_DIR / "manifest.tsv").is_file():
        pytest.skip(f"test audio not found at {SPEECH_DIR}")
    return build(Material(SPEECH_DIR, tts_synthesizer()), "e2e", 3, seed=7, half=1, turns=7, pool=VOICES)


@pytest.fixture(scope="module")
def conversation_wav(conversation: Conversation, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_wav(tmp_path_factory.mktemp("diarize") / "talk.wav", conversation.audio)


@pytest.fixture(scope="module")
def diarizer() -> Iterator[object]:
    from habla.diarize.service import Diarizer

    d = Diarizer.from_settings()
    yield d
    d.models.unload_all()


def test_engine_finds_who_spoke_when(diarizer, conversation: Conversation) -> None:
    result = diarizer.diarize(conversation.audio)
    assert len(result.speakers) == 3
    assert diarization_error(conversation.turns, result.turns).der < 0.15
    two = diarizer.diarize(conversation.audio, options=SpeakerOptions(speakers=2))
    assert len(two.speakers) == 2


def test_known_speaker_is_named(diarizer, conversation: Conversation) -> None:
    from habla.diarize.service import KnownSpeaker

    reference = decode(SPEECH_DIR / f"{ALLISON_REFERENCE}.flac")
    result = diarizer.diarize(conversation.audio, known=[KnownSpeaker("Allison", reference)])
    assert "Allison" in result.speakers
    first_allison = next(t for t in conversation.turns if t.speaker == "allison")
    named = [t for t in result.turns if t.speaker == "Allison"]
    assert any(t.start <= (first_allison.start + first_allison.end) / 2 <= t.end for t in named)


def test_onnx_graph_gives_the_torch_embeddings(diarizer, conversation: Conversation, tmp_path: Path) -> None:
    """The default runtime is an ONNX graph exported from the verified torch weights: a fresh export (into an
    empty cache) embeds the conversation's windows as the torch network does."""
    from habla.diarize.embedder import CamPlusPlusEmbedder, onnx_network, torch_network
    from habla.diarize.onnx_export import cached_onnx
    from habla.diarize.pipeline import speech_windows

    with diarizer.models.use(diarizer.diarize_settings.model) as default:
        assert default.runtime == "onnx"
    weights = next(diarizer.store.locate(diarizer.diarize_settings.model).path.glob("*.pt"))
    graph = cached_onnx(weights, "0" * 64, tmp_path)
    audio = conversation.audio
    pieces = [audio[int(s * 16000):int(e * 16000)] for s, e in speech_windows((0.0, 12.0), 1.5, 1.0)]
    pieces.append(audio[:4000])  # shorter than a window and than the network's minimum
    onnx = CamPlusPlusEmbedder(onnx_network(graph, 1)).embed(pieces)
    torch = CamPlusPlusEmbedder(torch_network(weights, 1)).embed(pieces)
    assert np.sum(onnx * torch, axis=1).min() > 0.9999


def test_cli_transcribe_diarize_writes_speakers(conversation_wav: Path, tmp_path: Path) -> None:
    done = subprocess.run([HABLA, "transcribe", str(conversation_wav), "--diarize", "-q", "-o", str(tmp_path),
                           "-f", "json,rttm,vtt,txt"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    data = json.loads((tmp_path / "talk.json").read_text())
    speakers = {s["speaker"] for s in data["segments"]}
    assert speakers == {"SPEAKER_00", "SPEAKER_01", "SPEAKER_02"}
    assert "words" not in data["segments"][0]  # computed for the split, dropped as not asked for
    turns = parse_rttm((tmp_path / "talk.rttm").read_text())["talk"]
    assert {t.speaker for t in turns} == speakers
    assert "<v SPEAKER_00>" in (tmp_path / "talk.vtt").read_text()
    assert (tmp_path / "talk.txt").read_text().startswith("SPEAKER_00: ")


def test_cli_rejects_bad_speaker_options(conversation_wav: Path, tmp_path: Path) -> None:
    done = subprocess.run([HABLA, "transcribe", str(conversation_wav), "--min-speakers", "3", "--max-speakers", "2",
                           "-o", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "error:" in done.stderr and "Traceback" not in done.stderr
    done = subprocess.run([HABLA, "transcribe", str(conversation_wav), "--known-speaker", "nobody",
                           "-o", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "NAME=CLIP" in done.stderr


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with Server(tmp_path_factory.mktemp("diarize-server")).start() as srv:
        yield srv


def _data_url(path: Path) -> str:
    return "data:audio/flac;base64," + base64.b64encode(path.read_bytes()).decode()


def test_openai_sdk_diarized_json_with_a_known_speaker(server: HablaServer, conversation_wav: Path) -> None:
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0, timeout=600)
    with conversation_wav.open("rb") as f:
        result = client.audio.transcriptions.create(
            model="whisper-1", file=f, response_format="diarized_json", known_speaker_names=["Allison"],
            known_speaker_references=[_data_url(SPEECH_DIR / f"{ALLISON_REFERENCE}.flac")])
    speakers = {s.speaker for s in result.segments}
    assert len(speakers) == 3 and "Allison" in speakers
    assert all(s.end >= s.start and s.text for s in result.segments)


def test_bad_known_speakers_get_clear_400s(server: HablaServer, conversation_wav: Path) -> None:
    def post(**fields: object) -> dict:
        with conversation_wav.open("rb") as f:
            response = server.http.post("/v1/audio/transcriptions", files={"file": ("t.wav", f)},
                                        data={"response_format": "diarized_json", **fields})
        assert response.status_code == 400, response.text
        return response.json()["error"]

    assert "data URL" in post(**{"known_speaker_names[]": ["a"], "known_speaker_references[]": ["/etc/passwd"]})[
        "message"]
    assert "entries" in post(**{"known_speaker_names[]": ["a", "b"],
                                "known_speaker_references[]": [_data_url(SPEECH_DIR / "librivox-0880.flac")]})[
        "message"]
    assert "decode" in post(**{"known_speaker_names[]": ["a"],
                               "known_speaker_references[]": ["data:audio/wav;base64,AAAA"]})["message"]


def test_a_diarized_job_has_speakers_in_every_format(server: Server, conversation_wav: Path) -> None:
    created = server.submit(conversation_wav, diarize="true", max_speakers="4")
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    done = server.wait_status(job_id, {"succeeded", "failed"}, timeout=600)
    assert done["status"] == "succeeded", done

    def result(fmt: str) -> str:
        return server.http.get(f"/v1/jobs/{job_id}/result", params={"format": fmt}).text

    assert len({s["speaker"] for s in json.loads(result("json"))["segments"]}) == 3
    assert "SPEAKER_01" in result("srt") and "<v SPEAKER_00>" in result("vtt")
    assert result("tsv").splitlines()[0] == "start\tend\tspeaker\ttext"
    assert result("rttm").startswith("SPEAKER audio 1 ")
    assert server.submit(conversation_wav, diarize="true", min_speakers="3", max_speakers="2").status_code == 400


@pytest.mark.parametrize("voice", sorted(ALL_ESPEAK_VOICES))
def test_every_corpus_espeak_voice_is_its_own_voice(voice: str) -> None:
    """espeak-ng drops a variant it cannot attach ("en-gb+f4" spoke as plain "en-gb"), which once made the corpus's
    two espeak voices one male voice; each corpus voice must sound unlike its base voice."""
    from habla.tts import espeak

    if not espeak.available():
        pytest.skip("espeak-ng is not installed (scripts/setup.sh)")
    spec = ALL_ESPEAK_VOICES[voice]
    text = "The quick brown fox jumps over the lazy dog."
    said = subprocess.run([espeak.BINARY, "-v", spec, "--stdout", text], capture_output=True, check=True).stdout
    base = subprocess.run([espeak.BINARY, "-v", spec.split("+")[0], "--stdout", text], capture_output=True,
                          check=True).stdout
    assert said != base
