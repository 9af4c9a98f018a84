"""The transcribe page (/) in headless Chromium against a live server: upload a real clip, follow the progress,
see the segments against the audio, download every format, summarize and ask; phone layout and accessibility."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from habla.asr.bench import Clip
from tests.browser.conftest import PHONE, accessibility_problems, horizontal_overflow, screenshot
from tests.conftest import HablaServer, write_long_wav

CLIP = "ast-en-queue-youarenext"  # "Your call is now first in line and will be answered by the next available ..."
JOB_TIMEOUT_MS = 120_000
SRT_BLOCK = re.compile(r"^\d+\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\n.+", re.MULTILINE)


@pytest.fixture(scope="module")
def clip(clips: list[Clip]) -> Clip:
    return next(c for c in clips if c.id == CLIP)


def download(page: Any, fmt: str) -> str:
    with page.expect_download() as info:
        page.click(f"#downloads button[data-format={fmt}]")
    assert info.value.suggested_filename == f"{CLIP}.{fmt}"
    return Path(info.value.path()).read_text(encoding="utf-8")


def check_formats(page: Any) -> None:
    files = {fmt: download(page, fmt) for fmt in ("txt", "srt", "vtt", "tsv", "json")}
    assert "first in line" in files["txt"].lower()
    assert SRT_BLOCK.search(files["srt"]), files["srt"]
    assert files["vtt"].startswith("WEBVTT") and " --> " in files["vtt"]
    assert files["tsv"].splitlines()[0].split("\t")[:3] == ["start", "end", "text"]
    result = json.loads(files["json"])
    assert result["segments"] and result["language"] == "en"
    assert all(segment["words"] for segment in result["segments"])  # word timestamps were asked for


def test_upload_progress_segments_downloads_and_assistant(open_page: Any, clip: Clip) -> None:
    page = open_page("/")
    page.wait_for_selector("#model option:not([value=''])", state="attached")
    assert accessibility_problems(page) == []
    screenshot(page, "transcribe-start")
    # Every progress line the page shows, recorded as it changes.
    page.evaluate("""() => { window.progressSeen = [];
      new MutationObserver(() => progressSeen.push(document.getElementById('progress-text').textContent))
        .observe(document.getElementById('progress-text'), { childList: true, characterData: true, subtree: true });
    }""")
    page.set_input_files("#files", str(clip.path))
    page.check("#words")
    page.click("#submit")

    page.wait_for_selector("#segments li button", timeout=JOB_TIMEOUT_MS)
    # Segments show live, before the job is over; the downloads come with the final result, after the "done" event
    # hid the progress (a fresh-clone run on a busy machine checked between the two and failed).
    page.wait_for_selector("#downloads:not([hidden])", timeout=JOB_TIMEOUT_MS)
    seen = page.evaluate("window.progressSeen")
    assert any(text.startswith(("queued", "running")) for text in seen), seen
    assert "first in line" in page.inner_text("#segments").lower()
    assert page.is_hidden("#progress-box") and page.inner_text("#job-meta").startswith(f"{CLIP}.flac")
    check_formats(page)

    # Selecting a segment plays from its start and highlights it.
    last = page.locator("#segments li button").last
    last.click()
    page.wait_for_selector("#segments li.current button[aria-current=true]", timeout=10_000)
    assert page.eval_on_selector("#player", "p => p.currentTime") > 0

    page.click("#summarize")
    page.wait_for_selector("#answer h3:text('Summary')", timeout=JOB_TIMEOUT_MS)
    assert page.inner_text("#answer p").strip()
    page.select_option("#summary-style", "chapters")
    page.click("#summarize")
    page.wait_for_selector("#answer h3:text('Summary (chapters)')", timeout=JOB_TIMEOUT_MS)
    assert page.inner_text("#answer p").strip().startswith("[00:00] ")
    page.fill("#question", "Who will answer the call?")
    page.click("#ask-button")
    page.wait_for_selector("#answer h3:text('Who will answer the call?')", timeout=JOB_TIMEOUT_MS)
    assert page.inner_text("#answer p").strip()
    assert f"{CLIP}.flac" in page.inner_text("#jobs")
    screenshot(page, "transcribe")

    job_id = page.get_attribute("#jobs li[data-job]", "data-job")
    phone = open_page(f"/#{job_id}", viewport=PHONE)  # a past job, opened by its link on a phone
    phone.wait_for_selector("#segments li button", timeout=30_000)
    phone.wait_for_selector("#player:not([hidden])")  # the server's copy of the upload plays on another visit
    assert phone.get_attribute("#player", "src") == f"/v1/jobs/{job_id}/audio"
    phone.locator("#segments li button").last.click()
    phone.wait_for_function("document.getElementById('player').currentTime > 0", timeout=10_000)
    assert horizontal_overflow(phone) == 0
    assert accessibility_problems(phone) == []
    screenshot(phone, "transcribe-phone")


def test_a_file_that_is_not_audio_shows_the_servers_message(open_page: Any, tmp_path: Path) -> None:
    notes = tmp_path / "notes.wav"
    notes.write_text("not audio at all\n" * 100)
    page = open_page("/")
    page.set_input_files("#files", str(notes))
    page.click("#submit")
    page.wait_for_selector("#status.error, #progress-text.error", timeout=JOB_TIMEOUT_MS)
    message = page.inner_text("#status") + page.inner_text("#progress-text")
    assert "audio" in message.lower(), message


def test_pages_are_public_and_served_offline(server: HablaServer) -> None:
    for path in ("/", "/talk", "/static/app.css", "/static/common.js", "/static/mic.js", "/static/transcribe.js"):
        response = server.http.get(path)
        assert response.status_code == 200, path
        assert "https://" not in response.text and "http://" not in response.text, path  # no CDN, nothing remote
    assert server.http.get("/static/../routes.py").status_code == 404


def test_a_dropped_file_is_transcribed(open_page: Any, clips: list[Clip]) -> None:
    clip = next(c for c in clips if c.id == "ast-en-vm-leavemsg")  # "Press 5 to leave a message"
    page = open_page("/")
    page.wait_for_selector("#model option:not([value=''])", state="attached")
    # A real drop event with the file in its DataTransfer, as the browser makes when a file is dragged in.
    drop = page.evaluate_handle("""([name, bytes]) => { const data = new DataTransfer();
      data.items.add(new File([new Uint8Array(bytes)], name, { type: 'audio/flac' })); return data; }""",
                                [clip.path.name, list(clip.path.read_bytes())])
    page.dispatch_event("#drop", "dragover", {"dataTransfer": drop})
    assert "over" in page.get_attribute("#drop", "class")
    page.dispatch_event("#drop", "drop", {"dataTransfer": drop})
    page.wait_for_selector("#segments li button", timeout=JOB_TIMEOUT_MS)
    assert "leave a message" in page.inner_text("#segments").lower()
    assert not page.is_hidden("#player")  # the dropped file plays in the page


def test_segments_appear_while_a_long_file_is_transcribed(open_page: Any, tmp_path: Path) -> None:
    long_wav = write_long_wav(tmp_path / "meeting.wav", 300)
    page = open_page("/")
    page.wait_for_selector("#model option:not([value=''])", state="attached")
    page.set_input_files("#files", str(long_wav))
    page.select_option("#language", "en")
    page.click("#submit")
    page.wait_for_selector("#segments li button", timeout=JOB_TIMEOUT_MS)
    assert page.is_visible("#progress-box")
    percent = int(re.match(r"running: (\d+) %", page.inner_text("#progress-text")).group(1))
    assert 0 <= percent < 100 and abs(page.eval_on_selector("#progress", "p => p.position") * 100 - percent) <= 0.5
    assert page.get_attribute("#segments", "aria-busy") == "true"
    count = page.locator("#segments li button").count()
    page.wait_for_function(f"document.querySelectorAll('#segments li button').length > {count}",
                           timeout=JOB_TIMEOUT_MS)  # more arrive as the job goes on
    screenshot(page, "transcribe-live")
    page.click("#cancel")
    page.wait_for_selector("#progress-text:text('cancelled')", timeout=30_000)


def test_speakers_have_a_colour_each_and_renames_reach_the_downloads(open_page: Any, tmp_path: Path) -> None:
    from habla.audio.wav import write_wav
    from habla.diarize.corpus import Material, build, tts_synthesizer
    from tests.conftest import SPEECH_DIR

    talk = build(Material(SPEECH_DIR, tts_synthesizer()), "talk", 3, seed=7, half=1, turns=7,
                 pool=("allison", "librivox", "joe"))
    path = write_wav(tmp_path / "talk.wav", talk.audio)
    page = open_page("/")
    page.wait_for_selector("#model option:not([value=''])", state="attached")
    page.set_input_files("#files", str(path))
    page.check("#diarize")
    page.click("#submit")
    page.wait_for_selector("#speakers:not([hidden]) button", timeout=JOB_TIMEOUT_MS * 3)
    assert page.locator("#speakers button").all_inner_texts() == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_02"]
    colours = page.eval_on_selector_all("#speakers button", "bs => bs.map(b => b.style.getPropertyValue('--speaker'))")
    assert len(set(colours)) == 3
    page.once("dialog", lambda dialog: dialog.accept("Ana María"))
    page.click("#speakers button[data-speaker=SPEAKER_00]")
    page.wait_for_selector("#segments .speaker:text('Ana María')")
    assert accessibility_problems(page) == []
    with page.expect_download() as info:
        page.click("#downloads button[data-format=txt]")
    assert Path(info.value.path()).read_text(encoding="utf-8").startswith("Ana María: ")
