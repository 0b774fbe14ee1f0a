"""build -> write -> read -> parse gives back the same model, for every valid case."""

from __future__ import annotations

import datetime
from dataclasses import replace
from pathlib import Path
from typing import Any

import highdicom as hd
import pydicom
import pytest
from pydicom.sr.coding import Code

from consent_sr import (
    ConsentBasis,
    ConsentDocument,
    Consenter,
    ConsentForm,
    ConsentLevel,
    ConsentStatus,
    InstanceRef,
    Patient,
    Study,
    build_consent_form_pdf,
    build_consent_sr,
    is_consent_sr,
    parse_consent_sr,
    read_consent_form_pdf,
)
from tests.consent_sr.helpers import (
    ADULT,
    CHILD,
    COVERED,
    CREATED,
    DECIDED,
    PURPOSE,
    STUDY,
    STUDY_UID,
    Case,
    consent,
    image_dataset,
    minimal_pdf,
    valid_cases,
    write_and_read,
)

CASES = valid_cases()


def _round_trip(ds: pydicom.Dataset, tmp_path: Path, name: str = "sr.dcm") -> ConsentDocument:
    back = write_and_read(ds, tmp_path / name)
    assert is_consent_sr(back)
    return parse_consent_sr(back)


def test_every_status_level_consenter_form_and_basis_is_exercised() -> None:
    assert {case.consent.status for case in CASES} == set(ConsentStatus)
    assert {case.consent.level for case in CASES} == {None, *ConsentLevel}
    assert {case.consent.consenter for case in CASES} == {None, *Consenter}
    assert {case.consent.form for case in CASES} == {None, *ConsentForm}
    assert {case.consent.basis for case in CASES} == {None, *ConsentBasis}
    assert {
        case.consent.also_teaching for case in CASES if case.consent.level is ConsentLevel.SPECIFIED
    } == {False, True}
    given_combinations = {
        (case.consent.level, case.consent.consenter, case.consent.form)
        for case in CASES
        if case.consent.status is ConsentStatus.GIVEN
    }
    assert len(given_combinations) == len(ConsentLevel) * len(Consenter) * len(ConsentForm)
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_round_trip(case: Case, tmp_path: Path) -> None:
    ds = build_consent_sr(
        case.consent,
        patient=case.patient,
        study=STUDY,
        series_number=900,
        instance_number=3,
        institution_name="Royal Infirmary",
        content_datetime=CREATED,
    )
    doc = _round_trip(ds, tmp_path)
    assert doc.problems == ()
    assert doc.consent == case.consent
    assert doc.patient == case.patient
    assert doc.study == STUDY
    assert doc.document == InstanceRef.from_dataset(ds)
    assert doc.content_datetime == CREATED
    assert doc.complete is (case.consent.status is not ConsentStatus.PENDING_RETROSPECTIVE)
    assert doc.verified_by is None


def test_predecessor_chain(tmp_path: Path) -> None:
    """pending -> given -> withdrawn: each new document points at the one it supersedes."""
    docs: list[ConsentDocument] = []
    pending = consent(
        status=ConsentStatus.PENDING_RETROSPECTIVE, level=None, consenter=None, form=None
    )
    ds1 = build_consent_sr(pending, patient=ADULT, study=STUDY, content_datetime=CREATED)
    docs.append(_round_trip(ds1, tmp_path, "1.dcm"))

    given = consent(decided_at=DECIDED + datetime.timedelta(days=2), supersedes=[ds1])
    ds2 = build_consent_sr(
        given, patient=ADULT, study=STUDY, content_datetime=CREATED + datetime.timedelta(days=2)
    )
    docs.append(_round_trip(ds2, tmp_path, "2.dcm"))

    withdrawn = consent(
        status=ConsentStatus.WITHDRAWN,
        level=None,
        form=None,
        decided_at=DECIDED + datetime.timedelta(days=30),
        supersedes=[InstanceRef.from_dataset(ds2)],
        covered=docs[1].covered,
    )
    ds3 = build_consent_sr(
        withdrawn,
        patient=ADULT,
        study=STUDY,
        content_datetime=CREATED + datetime.timedelta(days=30),
    )
    docs.append(_round_trip(ds3, tmp_path, "3.dcm"))

    assert docs[0].supersedes == ()
    assert docs[1].supersedes == (docs[0].document,)
    assert docs[2].supersedes == (docs[1].document,)
    assert docs[2].consent == withdrawn
    superseded = {ref.sop_instance_uid for doc in docs for ref in doc.supersedes}
    current = [doc for doc in docs if doc.document.sop_instance_uid not in superseded]
    assert [doc.consent.status for doc in current] == [ConsentStatus.WITHDRAWN]


def test_refusal_supersedes_pending_and_a_correction_supersedes_two(tmp_path: Path) -> None:
    first = InstanceRef(STUDY_UID, "2.25.41", "1.2.840.10008.5.1.4.1.1.88.33", "2.25.42")
    second = InstanceRef(STUDY_UID, "2.25.43", "1.2.840.10008.5.1.4.1.1.88.22", "2.25.44")
    refused = consent(status="refused", level=None, form=None, supersedes=[second, first])
    doc = _round_trip(
        build_consent_sr(refused, patient=ADULT, study=STUDY, content_datetime=CREATED), tmp_path
    )
    assert doc.consent == refused
    assert set(doc.supersedes) == {first, second}


def test_signed_pdf_form_is_referenced_and_round_trips(tmp_path: Path) -> None:
    pdf = minimal_pdf()
    form_ds = build_consent_form_pdf(
        pdf, patient=ADULT, study=STUDY, series_number=901, content_datetime=CREATED
    )
    form_back = write_and_read(form_ds, tmp_path / "form.dcm")
    assert read_consent_form_pdf(form_back) == pdf
    assert not is_consent_sr(form_back)
    assert Patient.from_dataset(form_back) == ADULT
    assert Study.from_dataset(form_back) == STUDY

    # covered recordings and the form given as pydicom datasets
    given = consent(covered=[image_dataset(ref) for ref in COVERED], signed_form=form_back)
    ds = build_consent_sr(given, patient=ADULT, study=STUDY, content_datetime=CREATED)
    doc = _round_trip(ds, tmp_path)
    assert doc.consent == given
    assert doc.consent.signed_form == InstanceRef.from_dataset(form_ds)
    assert doc.consent.covered == tuple(sorted(COVERED, key=lambda r: r.sop_instance_uid))
    evidence = {
        sop.ReferencedSOPInstanceUID
        for study in ds.CurrentRequestedProcedureEvidenceSequence
        for series in study.ReferencedSeriesSequence
        for sop in series.ReferencedSOPSequence
    }
    assert evidence == {ref.sop_instance_uid for ref in COVERED} | {form_ds.SOPInstanceUID}


def test_odd_length_pdf_is_padded_and_unpadded(tmp_path: Path) -> None:
    pdf = minimal_pdf("odd")
    if len(pdf) % 2 == 0:
        pdf += b"\n"
    ds = build_consent_form_pdf(pdf, patient=ADULT, study=STUDY)
    back = write_and_read(ds, tmp_path / "form.dcm")
    assert len(back.EncapsulatedDocument) == len(pdf) + 1
    assert back.EncapsulatedDocumentLength == len(pdf)
    assert read_consent_form_pdf(back) == pdf


def test_verified_document(tmp_path: Path) -> None:
    ds = build_consent_sr(
        consent(),
        patient=ADULT,
        study=STUDY,
        verifying_observer="Okafor^Adaeze",
        institution_name="Royal Infirmary",
        content_datetime=CREATED,
    )
    doc = _round_trip(ds, tmp_path)
    assert ds.VerificationFlag == "VERIFIED"
    assert ds.VerifyingObserverSequence[0].VerifyingOrganization == "Royal Infirmary"
    assert doc.verified_by == "Okafor^Adaeze"


def test_uid_root_and_given_uids(tmp_path: Path) -> None:
    ds = build_consent_sr(consent(), patient=ADULT, study=STUDY, uid_root="1.2.826.0.1.999")
    assert ds.SOPInstanceUID.startswith("1.2.826.0.1.999.")
    assert ds.SeriesInstanceUID.startswith("1.2.826.0.1.999.")
    ds2 = build_consent_sr(
        consent(),
        patient=ADULT,
        study=STUDY,
        series_instance_uid="2.25.77",
        sop_instance_uid="2.25.78",
    )
    doc = _round_trip(ds2, tmp_path)
    assert doc.document == InstanceRef(STUDY_UID, "2.25.77", ds2.SOPClassUID, "2.25.78")
    default = build_consent_sr(consent(), patient=ADULT, study=STUDY)
    assert default.SOPInstanceUID.startswith("2.25.")


def test_unicode_text_and_naive_datetimes(tmp_path: Path) -> None:
    given = consent(
        decided_at=datetime.datetime(2025, 3, 4, 9, 30, 15, 123456),
        recorded_by="Müller^Zoë",
        comment="Patient asked for images of the left ear only — 左耳のみ ✓",
        level="specified",
        purpose="Poster at the Société Française de Dermatologie congress, Paris 2026",
        consenter="parent",
        consenter_name="Nguyễn^Thị Lan",
        circumstances="Mother present; child (10) agreed after explanation.",
    )
    ds = build_consent_sr(given, patient=CHILD, study=STUDY, content_datetime=CREATED)
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    doc = _round_trip(ds, tmp_path)
    assert doc.consent == given
    assert doc.consent.decided_at.tzinfo is None
    assert doc.patient.name == "Nguyễn^Minh"


def test_model_normalises_order_whitespace_and_strings() -> None:
    a = consent(covered=list(reversed(COVERED)), comment="  note  ")
    b = consent(covered=COVERED, comment="note")
    assert a == b
    assert hash(a) == hash(b)
    assert a.status is ConsentStatus.GIVEN
    assert a.covered == tuple(sorted(COVERED, key=lambda r: r.sop_instance_uid))
    assert replace(a, comment=" other ").comment == "other"


def test_build_is_deterministic_given_uids_and_time() -> None:
    kwargs: dict[str, Any] = {
        "patient": ADULT,
        "study": STUDY,
        "series_instance_uid": "2.25.1",
        "sop_instance_uid": "2.25.2",
        "content_datetime": CREATED,
    }
    assert build_consent_sr(consent(), **kwargs) == build_consent_sr(consent(), **kwargs)


def test_single_component_patient_name_from_the_images_is_kept(tmp_path: Path) -> None:
    """A patient name copied from existing images need not contain a caret."""
    patient = replace(ADULT, name="ANONYMOUS", birth_date=None, sex=None)
    study = Study(study_instance_uid=STUDY_UID)
    doc = _round_trip(
        build_consent_sr(consent(), patient=patient, study=study, content_datetime=CREATED),
        tmp_path,
    )
    assert doc.patient == patient
    assert doc.study == study


@pytest.mark.parametrize("also_teaching", [False, True])
def test_level_3_with_and_without_teaching_round_trips(also_teaching: bool, tmp_path: Path) -> None:
    given = consent(level="specified", purpose=PURPOSE, also_teaching=also_teaching)
    assert given.also_teaching is also_teaching
    ds = build_consent_sr(given, patient=ADULT, study=STUDY, content_datetime=CREATED)
    items = hd.sr.utils.find_content_items(ds, name=Code("ALSO-PERMITTED", "99PHOTOPACS", "x"))
    assert len(items) == int(also_teaching)  # the item is written only when True
    doc = _round_trip(ds, tmp_path)
    assert doc.problems == ()
    assert doc.consent == given
    assert doc.consent.also_teaching is also_teaching
    assert doc.consent.purpose == PURPOSE


def test_also_teaching_defaults_to_false_and_takes_part_in_equality() -> None:
    plain = consent(level="specified", purpose=PURPOSE)
    assert plain.also_teaching is False
    with_teaching = replace(plain, also_teaching=True)
    assert with_teaching.also_teaching is True
    assert with_teaching != plain
    assert consent().also_teaching is False
