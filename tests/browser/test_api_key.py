"""A server with API keys: pages load without one, the page says the key is missing, and once the key is typed
into the nav bar's field (kept in localStorage) the page's API calls, progress stream and downloads carry it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from habla.asr.bench import Clip
from tests.conftest import HablaServer

KEY = "browser-test-key"
CLIP = "ast-en-vm-leavemsg"  # "Press 5 to leave a message"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HablaServer]:
    with HablaServer(tmp_path_factory.mktemp("web-keys"), env={"HABLA_SERVER__API_KEYS": f'["{KEY}"]'}).start() as live:
        yield live


def test_the_key_typed_in_the_page_is_sent_with_every_call(open_page: Any, clips: list[Clip]) -> None:
    page = open_page("/")
    page.wait_for_selector("#status.error")
    assert "API key" in page.inner_text("#status")  # the server's 401 message, with where to put the key

    page.click("nav summary")
    page.fill("#api-key", KEY)
    page.press("#api-key", "Tab")  # change event: saved
    page.reload()
    page.wait_for_selector("#model option:not([value=''])", state="attached")
    assert page.inner_text("#status") == ""

    page.set_input_files("#files", str(next(c for c in clips if c.id == CLIP).path))
    page.click("#submit")
    page.wait_for_selector("#segments li button", timeout=120_000)  # SSE over fetch, with the key
    assert "leave a message" in page.inner_text("#segments").lower()
    with page.expect_download() as info:
        page.click("#downloads button[data-format=txt]")
    assert "leave a message" in open(info.value.path(), encoding="utf-8").read().lower()
