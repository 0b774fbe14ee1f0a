"""Every SR and PDF consent_sr produces passes dicom3tools' dciodvfy: zero errors,
and no warning outside the explicit allow-list in helpers.DCIODVFY_ALLOWED."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from consent_sr import Study, build_consent_form_pdf, build_consent_sr
from tests.consent_sr.helpers import (
    ADULT,
    CREATED,
    DCIODVFY_ALLOWED,
    PURPOSE,
    STUDY,
    Case,
    consent,
    minimal_pdf,
    unexpected_dciodvfy_findings,
    valid_cases,
)
from tests.support import dciodvfy, require_tool

pytestmark = pytest.mark.dicom3tools

CASES = valid_cases()


@pytest.fixture(autouse=True)
def _needs_dciodvfy() -> None:
    require_tool("dciodvfy", "dicom3tools")


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_consent_sr_passes_dciodvfy(case: Case, tmp_path: Path) -> None:
    ds = build_consent_sr(
        case.consent,
        patient=case.patient,
        study=STUDY,
        institution_name="Royal Infirmary",
        content_datetime=CREATED,
    )
    path = tmp_path / "sr.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert unexpected_dciodvfy_findings(path) == []


def test_verified_sr_with_form_and_predecessor_passes_dciodvfy(tmp_path: Path) -> None:
    form = build_consent_form_pdf(minimal_pdf(), patient=ADULT, study=STUDY)
    given = consent(
        signed_form=form, supersedes=[build_consent_sr(consent(), patient=ADULT, study=STUDY)]
    )
    ds = build_consent_sr(
        given,
        patient=ADULT,
        study=STUDY,
        verifying_observer="Okafor^Adaeze",
        verifying_organization="Royal Infirmary",
        uid_root="1.2.826.0.1.999",
    )
    path = tmp_path / "sr.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert unexpected_dciodvfy_findings(path) == []


def test_level_3_with_teaching_passes_dciodvfy(tmp_path: Path) -> None:
    """The also-teaching item (TEMPLATE.md item 6a): zero errors, and its standard
    value (113004, DCM, "For Teaching") draws no warning of its own."""
    given = consent(level="specified", purpose=PURPOSE, also_teaching=True)
    ds = build_consent_sr(given, patient=ADULT, study=STUDY, content_datetime=CREATED)
    (item,) = [
        item
        for item in ds.ContentSequence
        if item.ConceptNameCodeSequence[0].CodeValue == "ALSO-PERMITTED"
    ]
    assert item.ConceptCodeSequence[0].CodeValue == "113004"
    path = tmp_path / "sr.dcm"
    ds.save_as(path, enforce_file_format=True)
    result = dciodvfy(path)
    assert result.errors == []
    assert unexpected_dciodvfy_findings(path) == []


@pytest.mark.parametrize("title", ["Signed consent to clinical photography", "Formulaire — signé"])
def test_consent_form_pdf_passes_dciodvfy_without_warnings(title: str, tmp_path: Path) -> None:
    ds = build_consent_form_pdf(
        minimal_pdf(),
        patient=ADULT,
        study=STUDY,
        document_title=title,
        institution_name="Royal Infirmary",
    )
    path = tmp_path / "form.dcm"
    ds.save_as(path, enforce_file_format=True)
    result = dciodvfy(path)
    assert result.errors == []
    assert result.warnings == []


def test_allow_list_is_needed_and_narrow(tmp_path: Path) -> None:
    """The allow-list entries all occur (none is stale), and a real defect is caught."""
    ds = build_consent_sr(consent(), patient=ADULT, study=STUDY)
    path = tmp_path / "sr.dcm"
    ds.save_as(path, enforce_file_format=True)
    warnings = dciodvfy(path).warnings
    for pattern, reason in DCIODVFY_ALLOWED:
        assert any(pattern.search(w) for w in warnings), f"stale allow-list entry: {reason}"

    del ds.CompletionFlag  # Type 1 in SR Document General, PS3.3 C.17.2
    ds.ContentSequence[2].ConceptNameCodeSequence[0].CodingSchemeDesignator = "99ELSEWHERE"
    ds.save_as(path, enforce_file_format=True)
    findings = unexpected_dciodvfy_findings(path)
    assert any(line.startswith("Error") and "CompletionFlag" in line for line in findings)
    assert any("99ELSEWHERE" in line for line in findings)


# Allowed only when the study's date, time and ID are unknown (Type 2, empty):
# the SR copies the study's identity, so it cannot invent them. dciodvfy notes that
# a DICOMDIR for media export would need them.
UNKNOWN_STUDY_WARNINGS = {
    f"Warning - </{attribute}> - Missing attribute or value that would be needed to build DICOMDIR"
    for attribute in ("StudyDate(0008,0020)", "StudyTime(0008,0030)", "StudyID(0020,0010)")
}


def test_minimal_identity_passes_dciodvfy(tmp_path: Path) -> None:
    patient = replace(ADULT, name="", birth_date=None, sex=None)
    study = Study(study_instance_uid=STUDY.study_instance_uid)
    sr = build_consent_sr(consent(), patient=patient, study=study)
    pdf = build_consent_form_pdf(minimal_pdf(), patient=patient, study=study)
    for name, ds in (("sr.dcm", sr), ("pdf.dcm", pdf)):
        path = tmp_path / name
        ds.save_as(path, enforce_file_format=True)
        assert set(unexpected_dciodvfy_findings(path)) == UNKNOWN_STUDY_WARNINGS
