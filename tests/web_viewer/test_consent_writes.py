"""Consent decisions are decided by the access policy too: nobody records a
decision about recordings they may not see (except the paths the rules need),
and a withdrawal or refusal is reversed only by a new written consent with its
signed form, recorded by a photographer or governance, and audited as such."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from sqlalchemy import select

from archive import Archive
from archive.models import AuditEvent, Instance
from tests.web_viewer.helpers import (
    add_user,
    build_scenario,
    choose,
    make_client,
    open_review,
    sign_in,
    signed_in,
)

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
TEACHING = {"decision": "given", "level": "teaching", "consenter": "patient", "form": "written"}


def _state(archive: Archive, uid: str) -> tuple[str, bool]:
    with archive.sessions() as s:
        inst = s.scalar(select(Instance).where(Instance.sop_instance_uid == uid))
        assert inst is not None
        return str(inst.availability), inst.use_teaching


def _consent_events(archive: Archive, outcome: str) -> list[dict[str, object]]:
    with archive.sessions() as s:
        rows = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "consent", AuditEvent.outcome == outcome)
        ).all()
        return [json.loads(r.detail) for r in rows]


def test_a_clinician_cannot_reverse_a_withdrawal_they_cannot_see(
    archive: Archive, tmp_path: Path
) -> None:
    scenario = build_scenario(archive)
    client, token = signed_in(archive, tmp_path, "cara", "clinician", "care")
    study, uid = scenario.studies["withdrawn"], scenario.uids["withdrawn"]
    before = _state(archive, uid)
    r = client.post("/api/patients/M1/consent", json={"study_instance_uid": study, **TEACHING})
    assert r.status_code == 404, r.text
    assert uid not in r.text
    # the HTML form, crafted
    form = {"csrf_token": token, "study": study, "decision": "given", "level": "teaching",
            "consenter": "patient", "form": "written"}  # fmt: skip
    r = client.post("/patients/M1/consent", data=form)
    assert r.status_code == 404
    assert uid not in r.text
    assert _state(archive, uid) == before == ("quarantined", False)
    refused = _consent_events(archive, "refused")
    assert len(refused) == 2 and all(e["study"] == study for e in refused)


def test_reversal_needs_a_written_consent_with_its_signed_form(
    archive: Archive, tmp_path: Path
) -> None:
    scenario = build_scenario(archive)
    client, _ = signed_in(archive, tmp_path, "gina", "governance", "governance")
    open_review(client)
    study, uid = scenario.studies["withdrawn"], scenario.uids["withdrawn"]
    url = "/api/patients/M1/consent"
    verbal = client.post(
        url, json={"study_instance_uid": study, **TEACHING, "form": "verbal-recorded"}
    )
    assert verbal.status_code == 403, verbal.text
    assert "written consent with its signed form" in verbal.json()["error"]["message"]
    unsigned = client.post(url, json={"study_instance_uid": study, **TEACHING})
    assert unsigned.status_code == 403
    assert _state(archive, uid) == ("quarantined", False)
    signed = client.post(
        url,
        json={
            "study_instance_uid": study,
            **TEACHING,
            "form_pdf_base64": base64.b64encode(PDF).decode(),
        },
    )
    assert signed.status_code == 200, signed.text
    assert _state(archive, uid) == ("active", True)
    [event] = [e for e in _consent_events(archive, "success") if e.get("re_consent")]
    assert event["supersedes_withdrawal_or_refusal"]
    assert event["review"] is True
    # The reversal is flagged in the governance review queue, page and API.
    queue = client.get("/api/review").json()
    [flagged] = queue["re_consents"]
    assert flagged["document"] == event["document"]
    assert flagged["supersedes"] == event["supersedes_withdrawal_or_refusal"]
    assert uid in flagged["recordings"] and flagged["recorded_by"] == "gina"
    page = client.get("/review").text
    assert "Returned to use after a withdrawal or refusal" in page
    assert event["supersedes_withdrawal_or_refusal"][0] in page


def test_a_photographer_records_consent_for_held_photos_they_took(
    archive: Archive, tmp_path: Path
) -> None:
    scenario = build_scenario(archive)  # photos were uploaded by "phot"
    add_user(archive, "phot", "photographer")
    add_user(archive, "pete", "photographer")
    for name, expected in (("pete", 404), ("phot", 200)):
        client = make_client(archive, tmp_path)
        sign_in(client, name)
        choose(client, "care")
        r = client.post(
            "/api/patients/M2/consent",
            json={"study_instance_uid": scenario.studies["other-held"], **TEACHING},
        )
        assert r.status_code == expected, (name, r.text)
    assert _state(archive, scenario.uids["other-held"]) == ("active", True)


def test_an_educator_records_no_decisions(archive: Archive, tmp_path: Path) -> None:
    scenario = build_scenario(archive)
    client, _ = signed_in(archive, tmp_path, "ed", "educator", "teaching")
    r = client.post(
        "/api/patients/M1/consent/withdraw",
        json={"study_instance_uid": scenario.studies["teaching"]},
    )
    assert r.status_code == 404
    assert _state(archive, scenario.uids["teaching"]) == ("active", True)


def test_the_form_offers_a_lawful_representative_for_an_adult(
    archive: Archive, tmp_path: Path
) -> None:
    scenario = build_scenario(archive)
    client, _ = signed_in(archive, tmp_path, "phot", "photographer", "care")
    page = client.get("/patients/M2/consent")
    assert page.status_code == 200 and scenario.uids["other-held"][-12:] in page.text
    assert 'value="representative"' in page.text
    assert 'value="personal-representative"' in page.text
