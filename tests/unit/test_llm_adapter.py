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
