"""Real headless Chromium (Debian's ``chromium``, driven by Playwright) against a live ``habla serve``.

One server and one browser per test module; a page per viewport. Screenshots land in test-artifacts/screenshots/
for review. A missing chromium or playwright fails the tests with the command that installs them: these tests are
part of the default run and must not vanish silently.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, HablaServer

SHOTS = ROOT / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}  # an iPhone 12-14 sized screen
SETUP_HINT = "run `bash scripts/setup.sh` (installs Debian's chromium and the playwright package)"


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail(f"the browser tests need Debian's chromium: {SETUP_HINT}", pytrace=False)
    return path


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"the browser tests need playwright: {SETUP_HINT}", pytrace=False)
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser_args() -> list[str]:
    """Extra Chromium flags; a module overrides this (the talk test adds a fake microphone)."""
    return []


@pytest.fixture(scope="module")
def browser(playwright: Any, browser_args: list[str]) -> Iterator[Any]:
    browser = playwright.chromium.launch(executable_path=chromium_path(),
                                         args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required",
                                               *browser_args])
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HablaServer]:
    with HablaServer(tmp_path_factory.mktemp("web")).start() as live:
        yield live


@pytest.fixture
def open_page(browser: Any, server: HablaServer) -> Iterator[Callable[..., Any]]:
    """open_page(path, viewport=DESKTOP) → a Playwright page on the live server. Every page must end the test
    without an uncaught JavaScript error or a failed console message."""
    contexts: list[Any] = []
    errors: list[str] = []

    def open_(path: str, viewport: dict[str, int] = DESKTOP, **options: Any) -> Any:
        context = browser.new_context(viewport=viewport, **options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.on("pageerror", lambda exc: errors.append(f"{path}: {exc}"))
        page.goto(f"{server.url}{path}")
        return page

    yield open_
    for context in contexts:
        context.close()
    assert not errors, errors


def screenshot(page: Any, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def horizontal_overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than the viewport (0 = nothing to scroll sideways)."""
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def accessibility_problems(page: Any) -> list[str]:
    """Form controls without a label and buttons or links without an accessible name (visible ones only)."""
    return page.evaluate("""() => {
      const visible = (e) => e.offsetParent !== null || e.getClientRects().length > 0;
      const named = (e) => (e.getAttribute('aria-label') || e.getAttribute('title') || e.textContent || '').trim();
      const problems = [];
      for (const e of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
        if (!visible(e)) continue;
        const labelled = (e.labels && e.labels.length) || e.getAttribute('aria-label')
          || e.getAttribute('aria-labelledby');
        if (!labelled) problems.push(`unlabelled ${e.tagName.toLowerCase()}#${e.id}`);
      }
      for (const e of document.querySelectorAll('button, a[href]')) {
        if (visible(e) && !named(e)) problems.push(`nameless ${e.tagName.toLowerCase()}#${e.id}`);
      }
      if (!document.documentElement.lang) problems.push('no lang on <html>');
      if (!document.querySelector('h1')) problems.push('no h1');
      return problems;
    }""")
