"""The llama.cpp adapter: the cyllama it was written for, and the end-of-turn model that reads one forward pass's
next-token distribution through it."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from habla.config import load_settings
from habla.llama_cpp_adapter import CYLLAMA_VERSION
from habla.llm.service import gguf_path
from habla.models.store import ModelStore

pytest.importorskip("cyllama", reason="needs habla[llm]")


def test_the_installed_cyllama_is_the_one_the_adapter_is_written_for() -> None:
    assert version("cyllama") == CYLLAMA_VERSION


def test_smollm2_is_converted_to_its_faster_q8_0_form_with_the_catalog_sha256(tmp_path) -> None:
    from habla.llama_cpp_adapter import GGUFModel, requantize
    from habla.models.catalog import ALL_MODELS
    from habla.models.store import sha256_file

    spec = ALL_MODELS["smollm2-135m"]
    (derived,) = spec.derived
    source = gguf_path(ModelStore(load_settings().models), "smollm2-135m").parent / derived.source
    requantize(source, tmp_path / derived.name, "q8_0")  # again, away from the store: same bytes every time
    assert sha256_file(tmp_path / derived.name) == derived.sha256
    model = GGUFModel(tmp_path / derived.name)
    assert model.meta("tokenizer.chat_template") == GGUFModel(source).meta("tokenizer.chat_template")
    assert gguf_path(ModelStore(load_settings().models), "smollm2-135m").name == derived.name


def test_an_llm_whose_faster_form_cannot_be_made_is_used_as_it_is(tmp_path, monkeypatch, caplog) -> None:
    from habla.llm import service

    def fail(source, target, file_type):
        raise service.ModelCorrupt("no quantizer here")

    monkeypatch.setattr("habla.llama_cpp_adapter.requantize", fail)
    store = ModelStore(load_settings().models)
    folder = gguf_path(store, "smollm2-135m").parent
    monkeypatch.setattr(store, "derived", lambda name, file, make: make(folder / file.source, tmp_path / file.name))
    assert gguf_path(store, "smollm2-135m").name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert "no quantizer here" in caplog.text


def test_the_turn_end_model_reads_a_finished_request_as_more_likely_ended_than_a_cut_one() -> None:
    from habla.llm.turn_end import TurnEndModel

    model = TurnEndModel(gguf_path(ModelStore(load_settings().models), "smollm2-135m"))
    finished = model.probability("please hold while we try to connect you")
    cut = model.probability("please hold while we")
    assert 0.0 <= cut < finished <= 1.0
    assert model.probability("please hold while we") == cut  # the same text again: the cached result


@pytest.mark.slow  # loads Gemma 3 270M: 3-25 s on a busy 2-core machine
def test_query_likelihood_prefers_the_passage_that_answers_in_both_languages() -> None:
    from habla.llm.rerank import QueryLikelihood

    model = QueryLikelihood(gguf_path(ModelStore(load_settings().models), "gemma-3-270m"))
    question = "How much do the tickets for the reading cost?"
    answers = model.score("Tickets for the reading are free, but you have to book them online.", question)
    other = model.score("The three candidates were a mystery, a travel memoir and a history of coffee.", question)
    assert answers > other
    pregunta = "¿Qué tiene que enviar Elena a la compañía?"
    responde = model.score("Elena, necesito que me mande una foto del contador por correo electrónico.", pregunta)
    otra = model.score("Con esa tarifa la luz es más barata de doce de la noche a ocho de la mañana.", pregunta)
    assert responde > otra
    assert model.score("", question) < 0  # a mean log-probability
