"""End to end in a real browser: Playwright drives Debian's Chromium (headless)
against a real `photopacs serve`. Admin creates users; a photographer uploads
a photo and a video and records consent; a clinician finds and views them; an
educator sees the photo only after level-2 consent; withdrawal hides it from
both while governance finds it in the quarantine queue; the audit view lists
every one of those looks. Screenshots of each screen go to test-artifacts/."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serving import free_port, photopacs_bin, running
from tests.support import REPO, corpus, require, require_tool
from tests.web_viewer.helpers import PASSWORD

ARTIFACTS = REPO / "test-artifacts" / "web"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    http, dicom = free_port(), free_port()
    env = {
        "PHOTOPACS_DATA_DIR": str(tmp_path / "data"),
        "PHOTOPACS_DATABASE_URL": f"sqlite:///{tmp_path / 'index.sqlite3'}",
        "PHOTOPACS_HTTP_PORT": str(http),
        "PHOTOPACS_DICOM_PORT": str(dicom),
    }
    full = {**os.environ, **env}
    exe = photopacs_bin()
    subprocess.run([exe, "db", "upgrade"], env=full, check=True, capture_output=True)
    subprocess.run(
        [
            exe,
            "user",
            "add",
            "root",
            "--role",
            "admin",
            "--full-name",
            "Ada Admin",
            "--password-stdin",
        ],
        env=full,
        input=f"{PASSWORD}\n".encode(),
        check=True,
        capture_output=True,
    )
    with running([exe, "serve"], env, tmp_path / "serve.log", http_port=http, dicom_port=dicom):
        yield f"http://127.0.0.1:{http}"


class Person:
    """One signed-in person in their own browser context."""

    def __init__(self, browser: Any, base: str, username: str) -> None:
        self.context = browser.new_context(viewport={"width": 1360, "height": 900})
        self.page = self.context.new_page()
        self.base = base
        self.username = username

    def go(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def sign_in(self, purpose: str | None = None) -> None:
        self.go("/login")
        self.page.fill("#username", self.username)
        self.page.fill("#password", PASSWORD)
        self.page.click("button[type=submit]")
        if purpose:
            self.page.check(f"input[name=purpose][value={purpose}]")
            self.page.click("form.purposes button[type=submit]")
            self.page.wait_for_url("**/patients")


def test_the_whole_story_in_a_browser(server: str) -> None:
    chromium = require_tool("chromium", "chromium")
    require(importlib.util.find_spec("playwright") is not None, "Python package playwright")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            _story(browser, server, expect)
        finally:
            browser.close()


def _story(browser: Any, base: str, expect: Any) -> None:
    # The login page; then the admin creates the team.
    admin = Person(browser, base, "root")
    admin.go("/login")
    admin.shot("01-login")
    admin.sign_in()
    expect(admin.page.locator("h1")).to_have_text("Accounts")
    for username, full_name, role in (
        ("phot", "Pat Photographer", "photographer"),
        ("clin", "Chris Clinician", "clinician"),
        ("edu", "Eve Educator", "educator"),
        ("ig", "Ian Governance", "governance"),
    ):
        admin.page.fill("#new-username", username)
        admin.page.fill("#new-full-name", full_name)
        admin.page.select_option("#new-role", role)
        admin.page.fill("#new-password", PASSWORD)
        admin.page.fill("#new-password2", PASSWORD)
        admin.page.click("#add-user button[type=submit]")
        expect(admin.page.locator(".alert.ok")).to_be_visible()
    admin.shot("02-admin-users")

    # The photographer uploads a photo and a video: held until consent.
    phot = Person(browser, base, "phot")
    phot.sign_in()
    phot.shot("03-purpose")
    phot.page.check("input[name=purpose][value=care]")
    phot.page.click("form.purposes button[type=submit]")
    phot.go("/upload")
    phot.page.fill("#patient_id", "E2E001")
    phot.page.fill("#family_name", "Browser")
    phot.page.fill("#given_name", "Bella")
    phot.page.fill("#birth_date", "1975-06-15")
    phot.page.select_option("#sex", "F")
    phot.page.fill("#description", "Dermatology clinic")
    phot.page.fill("#body_site", "left forearm")
    phot.page.set_input_files(
        "#files", [str(corpus("jpeg", "rose.jpg")), str(corpus("video", "testsrc_640x480_2s.mp4"))]
    )
    phot.shot("04-upload")
    phot.page.click("#upload-form button[type=submit]")
    phot.page.wait_for_url("**/consent?done=uploaded")
    expect(phot.page.locator(".badge.state-held").first).to_be_visible()
    phot.shot("05-consent-panel-held")
    phot.page.check("#consent-form input[name=level][value=record]")
    phot.page.set_input_files(
        "#form_pdf",
        files=[
            {"name": "signed.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n%%EOF\n"}
        ],
    )
    phot.page.click("#consent-form button[type=submit]")
    phot.page.wait_for_url("**done=recorded")
    phot.shot("06-consent-level1")

    # The clinician finds and views them.
    clin = Person(browser, base, "clin")
    clin.sign_in("care")
    clin.page.fill("#name", "brow")
    clin.page.click(".search-form button[type=submit]")
    expect(clin.page.locator("table.table tbody tr")).to_have_count(1)
    clin.shot("07-search")
    clin.page.click("table.table tbody tr a")
    expect(clin.page.locator(".gallery li")).to_have_count(2)
    clin.page.wait_for_function(
        "() => [...document.querySelectorAll('.gallery img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    clin.shot("08-timeline")
    photo_link = clin.page.locator(".gallery a.thumb:not(.video)").first
    photo_url = photo_link.get_attribute("href")
    video_url = clin.page.locator(".gallery a.thumb.video").first.get_attribute("href")
    photo_link.click()
    clin.page.wait_for_function("() => document.getElementById('picture').naturalWidth > 0")
    expect(clin.page.locator(".consent-badge")).to_contain_text("Level 1")
    clin.page.click("[data-zoom=in]")
    clin.shot("09-image")
    clin.go(video_url)
    clin.page.wait_for_function(
        "() => { const v = document.querySelector('video');"
        " return v && v.readyState >= 1 && v.videoWidth === 640; }",
        timeout=20000,
    )
    clin.shot("10-video")

    # The educator sees it only after level-2 consent.
    edu = Person(browser, base, "edu")
    edu.sign_in("teaching")
    edu.go("/patients?patient_id=E2E001")
    expect(edu.page.locator("section.card h2")).to_contain_text("0 patients")
    edu.shot("11-educator-before-level2")
    phot.go("/patients/E2E001/consent")
    phot.page.check("#consent-form input[name=level][value=teaching]")
    phot.page.click("#consent-form button[type=submit]")
    phot.page.wait_for_url("**done=recorded")
    edu.go(photo_url)
    expect(edu.page.locator(".consent-badge")).to_contain_text("Level 2")
    edu.page.wait_for_function("() => document.getElementById('picture').naturalWidth > 0")
    edu.shot("12-educator-after-level2")

    # Withdrawal: gone for both; governance finds it in the quarantine queue.
    phot.go("/patients/E2E001/consent")
    phot.page.click("#withdraw-form button[type=submit]")
    phot.page.wait_for_url("**done=withdrawn")
    phot.shot("13-withdrawn")
    for person in (clin, edu):
        response = person.go(photo_url)
        assert response is not None and response.status == 404
    edu.shot("14-not-found-after-withdrawal")
    ig = Person(browser, base, "ig")
    ig.sign_in("governance")
    ig.go("/review")
    expect(ig.page.locator("table.review")).to_have_count(0)  # nothing before a stated reason
    ig.page.fill("#review-reason", "IG-2026-12: withdrawn consent, check the photos")
    ig.page.click("#open-review button[type=submit]")
    expect(ig.page.locator("#review-banner")).to_contain_text("IG-2026-12")
    expect(ig.page.locator("table.review tbody tr")).to_have_count(2)
    expect(ig.page.locator("table.review")).to_contain_text("consent withdrawn")
    ig.shot("15-review-queue")
    ig.go("/audit?patient_id=E2E001")
    audit = ig.page.locator("table.audit-table")
    for who in ("phot", "clin", "edu"):
        expect(audit).to_contain_text(who)
    ig.page.click("form[action='/audit/verify'] button")
    expect(ig.page.locator(".chain.ok")).to_be_visible()
    ig.go("/audit?patient_id=E2E001")
    ig.shot("16-audit")
    text = ig.page.locator("table.audit-table").inner_text()
    assert "image page" in text and "thumbnail" in text and "timeline" in text
