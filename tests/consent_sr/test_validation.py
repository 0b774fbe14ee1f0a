"""Strict on write: every invalid input is refused, naming the bad argument."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from consent_sr import (
    ConsentValidationError,
    InstanceRef,
    Patient,
    Study,
    build_consent_form_pdf,
    build_consent_sr,
    check_pdf,
    is_specific_purpose,
    validate_consent,
)
from tests.consent_sr.helpers import (
    ADULT,
    CHILD,
    COMPREHENSIVE_SR,
    COVERED,
    CREATED,
    DECIDED,
    ENCAPSULATED_PDF,
    OTHER_STUDY,
    PHOTO_SERIES,
    PHOTOS,
    PRIOR_SR,
    PURPOSE,
    STUDY,
    STUDY_UID,
    VL_PHOTO,
    consent,
    minimal_pdf,
)

FORM = InstanceRef(STUDY_UID, "2.25.51", ENCAPSULATED_PDF, "2.25.52")
IMPLICIT: dict[str, Any] = {"status": "implicit", "level": None, "consenter": None, "form": None}

# (id, consent overrides, patient, argument named in the error)
INVALID_CONSENTS: list[tuple[str, dict[str, Any], Patient, str]] = [
    ("level-on-refusal", {"status": "refused", "form": None}, ADULT, "level"),
    ("level-on-withdrawal", {"status": "withdrawn", "supersedes": [PRIOR_SR]}, ADULT, "level"),
    ("level-on-pending", {"status": "pending-retrospective", "consenter": None}, ADULT, "level"),
    ("given-without-level", {"level": None}, ADULT, "level"),
    ("purpose-on-level-1", {"level": "record", "purpose": PURPOSE}, ADULT, "purpose"),
    ("purpose-on-level-2", {"purpose": PURPOSE}, ADULT, "purpose"),
    ("level-3-without-purpose", {"level": "specified"}, ADULT, "purpose"),
    (
        "also-teaching-on-level-1",
        {"level": "record", "also_teaching": True},
        ADULT,
        "also_teaching",
    ),
    ("also-teaching-on-level-2", {"also_teaching": True}, ADULT, "also_teaching"),
    (
        "also-teaching-on-refusal",
        {"status": "refused", "level": None, "form": None, "also_teaching": True},
        ADULT,
        "also_teaching",
    ),
    ("given-without-consenter", {"consenter": None}, ADULT, "consenter"),
    (
        "consenter-on-implicit",
        {**IMPLICIT, "basis": "implicit-procedure", "consenter": "patient"},
        ADULT,
        "consenter",
    ),
    (
        "consenter-on-pending",
        {"status": "pending-retrospective", "level": None, "form": None},
        ADULT,
        "consenter",
    ),
    (
        "parent-without-name",
        {"consenter": "parent", "circumstances": "x y"},
        CHILD,
        "consenter_name",
    ),
    (
        "guardian-without-name",
        {"consenter": "legal-guardian", "circumstances": "x y"},
        CHILD,
        "consenter_name",
    ),
    (
        "representative-without-name",
        {"consenter": "personal-representative"},
        ADULT,
        "consenter_name",
    ),
    ("patient-with-name", {"consenter_name": "Smith^John"}, ADULT, "consenter_name"),
    (
        "child-with-name",
        {
            "consenter": "fraser-competent-child",
            "consenter_name": "Smith^J",
            "circumstances": "x y",
        },
        CHILD,
        "consenter_name",
    ),
    (
        "name-not-pn",
        {"consenter": "personal-representative", "consenter_name": "John Smith"},
        ADULT,
        "consenter_name",
    ),
    (
        "name-with-backslash",
        {"consenter": "personal-representative", "consenter_name": "Smith^J\\x"},
        ADULT,
        "consenter_name",
    ),
    ("given-without-form", {"form": None}, ADULT, "form"),
    (
        "form-on-implicit",
        {**IMPLICIT, "basis": "implicit-procedure", "form": "written"},
        ADULT,
        "form",
    ),
    ("basis-on-given", {"basis": "implicit-procedure"}, ADULT, "basis"),
    (
        "basis-on-refusal",
        {"status": "refused", "level": None, "basis": "vital-interests"},
        ADULT,
        "basis",
    ),
    ("implicit-without-basis", IMPLICIT, ADULT, "basis"),
    (
        "vital-interests-without-consultant",
        {**IMPLICIT, "basis": "vital-interests"},
        ADULT,
        "authorised_by",
    ),
    (
        "consultant-on-implicit-procedure",
        {**IMPLICIT, "basis": "implicit-procedure", "authorised_by": "Okafor^A"},
        ADULT,
        "authorised_by",
    ),
    ("no-recordings", {"covered": []}, ADULT, "covered"),
    (
        "recording-in-other-study",
        {"covered": [InstanceRef(OTHER_STUDY, PHOTO_SERIES, VL_PHOTO, "2.25.61")]},
        ADULT,
        "covered[0]",
    ),
    ("recording-twice", {"covered": [PHOTOS[0], PHOTOS[0]]}, ADULT, "covered[1]"),
    (
        "recording-bad-uid",
        {"covered": [InstanceRef(STUDY_UID, PHOTO_SERIES, VL_PHOTO, "1.2.abc")]},
        ADULT,
        "covered[0].sop_instance_uid",
    ),
    (
        "recording-uid-leading-zero",
        {"covered": [InstanceRef(STUDY_UID, "1.02.3", VL_PHOTO, "2.25.5")]},
        ADULT,
        "covered[0].series_instance_uid",
    ),
    (
        "signed-form-with-verbal",
        {"form": "verbal-recorded", "signed_form": FORM},
        ADULT,
        "signed_form",
    ),
    (
        "signed-form-without-form",
        {"status": "refused", "level": None, "form": None, "signed_form": FORM},
        ADULT,
        "signed_form",
    ),
    (
        "signed-form-not-a-pdf",
        {"signed_form": replace(FORM, sop_class_uid=VL_PHOTO)},
        ADULT,
        "signed_form",
    ),
    (
        "signed-form-in-other-study",
        {"signed_form": replace(FORM, study_instance_uid=OTHER_STUDY)},
        ADULT,
        "signed_form",
    ),
    (
        "signed-form-also-covered",
        {"signed_form": FORM, "covered": [*PHOTOS, replace(FORM, sop_class_uid=VL_PHOTO)]},
        ADULT,
        "signed_form",
    ),
    ("withdrawal-without-predecessor", {"status": "withdrawn", "level": None}, ADULT, "supersedes"),
    ("predecessor-not-an-sr", {"supersedes": [PHOTOS[0]]}, ADULT, "supersedes[0]"),
    ("predecessor-twice", {"supersedes": [PRIOR_SR, PRIOR_SR]}, ADULT, "supersedes[1]"),
    ("fraser-child-who-is-adult", {"consenter": "fraser-competent-child"}, ADULT, "consenter"),
    (
        "child-given-without-circumstances",
        {"consenter": "fraser-competent-child"},
        CHILD,
        "circumstances",
    ),
    ("decided-before-birth", {"decided_at": datetime.datetime(1960, 1, 1)}, ADULT, "decided_at"),
    ("empty-comment", {"comment": "   "}, ADULT, "comment"),
    ("empty-circumstances", {"circumstances": ""}, ADULT, "circumstances"),
    (
        "control-char-justification",
        {"intimate_justification": "a\x00b"},
        ADULT,
        "intimate_justification",
    ),
    ("empty-recorder", {"recorded_by": " "}, ADULT, "recorded_by"),
    ("recorder-not-pn", {"recorded_by": "Pat"}, ADULT, "recorded_by"),
    ("decided-at-a-date", {"decided_at": datetime.date(2025, 3, 4)}, ADULT, "decided_at"),
]

OPEN_ENDED = [
    "",
    "   ",
    "any",
    "Any purpose",
    "anything",
    "publication as required",
    "Publication as and when needed",
    "teaching and publication where appropriate",
    "Publication",
    "publication in a journal",
    "Publication in a dermatology journal",
    "Lectures at some conferences",
    "teaching, publication etc.",
    "Publication in the BMJ and other journals",
    "BMJ or similar",
    "Teaching such as lectures at Leeds",
    "all media",
    "All purposes",
    "whatever is needed",
    "unspecified",
    "Unrestricted use",
    "for any future use",
    "Future publications by the team",
    "conference presentation",
    "medical teaching and research",
    "n/a",
    "TBC",
    "to be confirmed",
    "including but not limited to the BMJ",
]

SPECIFIC = [
    PURPOSE,
    "Publication in the BMJ",
    "Lancet article",
    "Presentation at the British Association of Dermatologists annual meeting, Liverpool 2026",
    "Future Healthcare Journal article on wound photography by J Smith",
    "Publication in the British Journal of General Practice",
    "Publication in the BMJ, including the online edition",
]


@pytest.mark.parametrize(
    ("overrides", "patient", "argument"),
    [pytest.param(o, p, a, id=i) for i, o, p, a in INVALID_CONSENTS],
)
def test_invalid_consent_is_refused_naming_the_argument(
    overrides: dict[str, Any], patient: Patient, argument: str
) -> None:
    with pytest.raises(ConsentValidationError) as info:
        build_consent_sr(consent(**overrides), patient=patient, study=STUDY)
    assert info.value.argument == argument
    assert str(info.value).startswith(f"{argument}: ")


@pytest.mark.parametrize(
    ("level", "why"),
    [("record", "level 1 (record) excludes teaching"), ("teaching", "level 2 (teaching) already")],
)
def test_also_teaching_is_a_level_3_option_only(level: str, why: str) -> None:
    with pytest.raises(ConsentValidationError) as info:
        build_consent_sr(consent(level=level, also_teaching=True), patient=ADULT, study=STUDY)
    assert info.value.argument == "also_teaching"
    assert "only when level is 3 (specified)" in str(info.value)
    assert why in str(info.value)
    # the same consents without the flag are valid, and so is level 3 with it
    validate_consent(consent(level=level), patient=ADULT, study=STUDY)
    validate_consent(
        consent(level="specified", purpose=PURPOSE, also_teaching=True), patient=ADULT, study=STUDY
    )


@pytest.mark.parametrize("purpose", OPEN_ENDED)
def test_open_ended_purpose_is_refused(purpose: str) -> None:
    assert not is_specific_purpose(purpose)
    with pytest.raises(ConsentValidationError) as info:
        build_consent_sr(consent(level="specified", purpose=purpose), patient=ADULT, study=STUDY)
    assert info.value.argument == "purpose"


@pytest.mark.parametrize("purpose", SPECIFIC)
def test_specific_purpose_is_accepted(purpose: str) -> None:
    assert is_specific_purpose(purpose)
    ds = build_consent_sr(consent(level="specified", purpose=purpose), patient=ADULT, study=STUDY)
    assert ds.SOPInstanceUID


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", "maybe"),
        ("level", 4),
        ("consenter", "neighbour"),
        ("form", "telepathic"),
        ("basis", "curiosity"),
        ("covered", PHOTOS[0]),
        ("covered", [object()]),
        ("signed_form", "2.25.1"),
        ("supersedes", ["2.25.1"]),
        ("also_teaching", "no"),
        ("also_teaching", 1),
        ("also_teaching", None),
    ],
)
def test_model_refuses_values_of_the_wrong_kind(field: str, value: object) -> None:
    with pytest.raises(ConsentValidationError) as info:
        consent(**{field: value})
    assert info.value.argument.split("[")[0] == field


def test_dataset_reference_without_uids_is_refused() -> None:
    from pydicom.dataset import Dataset

    with pytest.raises(ConsentValidationError) as info:
        consent(covered=[Dataset()])
    assert info.value.argument == "covered[0]"


BUILDER_ARGUMENTS: list[tuple[str, dict[str, Any]]] = [
    ("patient.patient_id", {"patient": replace(ADULT, patient_id="")}),
    ("patient.patient_id", {"patient": replace(ADULT, patient_id="x" * 65)}),
    ("patient.name", {"patient": replace(ADULT, name="Siobhan\\Ciara")}),
    ("patient.name", {"patient": replace(ADULT, name="A^" + "b" * 64)}),
    ("patient.sex", {"patient": replace(ADULT, sex="female")}),  # type: ignore[arg-type]
    ("patient", {"patient": "RX1234567"}),
    ("study", {"study": STUDY_UID}),
    ("study.study_instance_uid", {"study": replace(STUDY, study_instance_uid="not-a-uid")}),
    ("study.accession_number", {"study": replace(STUDY, accession_number="A" * 17)}),
    ("series_number", {"series_number": 0}),
    ("instance_number", {"instance_number": -1}),
    ("series_instance_uid", {"series_instance_uid": "1.2.3."}),
    ("sop_instance_uid", {"sop_instance_uid": "x"}),
    ("sop_instance_uid", {"sop_instance_uid": PHOTOS[0].sop_instance_uid}),
    ("uid_root", {"uid_root": "1.2.abc"}),
    ("uid_root", {"uid_root": "1." * 30}),
    ("manufacturer", {"manufacturer": "m" * 65}),
    ("institution_name", {"institution_name": "a\\b"}),
    ("content_datetime", {"content_datetime": DECIDED - datetime.timedelta(hours=1)}),
    ("content_datetime", {"content_datetime": "20250304"}),
    ("verifying_organization", {"verifying_observer": "Okafor^A"}),
    ("verifying_organization", {"verifying_organization": "Royal Infirmary"}),
    ("verifying_observer", {"verifying_observer": "Okafor", "institution_name": "RI"}),
]


@pytest.mark.parametrize(
    ("argument", "kwargs"), [pytest.param(a, k, id=a) for a, k in BUILDER_ARGUMENTS]
)
def test_invalid_builder_argument_is_named(argument: str, kwargs: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {"patient": ADULT, "study": STUDY, **kwargs}
    with pytest.raises(ConsentValidationError) as info:
        build_consent_sr(consent(), **arguments)
    assert info.value.argument == argument


def test_consent_argument_must_be_a_consent() -> None:
    with pytest.raises(ConsentValidationError) as info:
        build_consent_sr({"status": "given"}, patient=ADULT, study=STUDY)  # type: ignore[arg-type]
    assert info.value.argument == "consent"


NOT_PDFS: list[tuple[str, object]] = [
    ("empty", b""),
    ("text", "%PDF-1.4 as a str"),
    ("png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),
    ("jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 64),
    ("html", b"<html><body>%PDF-1.4</body></html>%%EOF"),
    ("truncated", minimal_pdf()[:-40]),
    ("bad-version", b"%PDF-9.9\n" + minimal_pdf()[9:]),
]


@pytest.mark.parametrize(("data",), [pytest.param(d, id=i) for i, d in NOT_PDFS])
def test_bytes_that_are_not_a_pdf_are_refused(data: object) -> None:
    with pytest.raises(ConsentValidationError) as info:
        build_consent_form_pdf(data, patient=ADULT, study=STUDY)  # type: ignore[arg-type]
    assert info.value.argument == "pdf_bytes"
    with pytest.raises(ConsentValidationError):
        check_pdf(data)


def test_pdf_builder_arguments_are_validated() -> None:
    pdf = minimal_pdf()
    cases: list[tuple[str, Callable[[], object]]] = [
        (
            "patient.patient_id",
            lambda: build_consent_form_pdf(pdf, patient=replace(ADULT, patient_id=""), study=STUDY),
        ),
        (
            "sop_instance_uid",
            lambda: build_consent_form_pdf(
                pdf, patient=ADULT, study=STUDY, sop_instance_uid="1..2"
            ),
        ),
        (
            "document_title",
            lambda: build_consent_form_pdf(pdf, patient=ADULT, study=STUDY, document_title="a\\b"),
        ),
        (
            "content_datetime",
            lambda: build_consent_form_pdf(
                pdf,
                patient=ADULT,
                study=Study(study_instance_uid=STUDY_UID),
                content_datetime=datetime.date(2025, 1, 1),  # type: ignore[arg-type]
            ),
        ),
    ]
    for argument, call in cases:
        with pytest.raises(ConsentValidationError) as info:
            call()
        assert info.value.argument == argument


def test_valid_baseline_builds() -> None:
    """The baseline every invalid case mutates is itself valid."""
    ds = build_consent_sr(consent(), patient=ADULT, study=STUDY, content_datetime=CREATED)
    assert ds.SOPClassUID == COMPREHENSIVE_SR
    # observer type and name, status, decision date-time, level, consenter, form
    assert len(ds.ContentSequence) == 7 + len(COVERED)


@pytest.mark.parametrize(
    "overrides",
    [
        {"consenter": "personal-representative", "consenter_name": "Harriet Quinn"},
        {"consenter_name": "Harriet^Quinn"},
        {**IMPLICIT, "basis": "implicit-procedure", "authorised_by": "Harriet^Quinn"},
    ],
)
def test_person_name_errors_do_not_repeat_the_name(overrides: dict[str, Any]) -> None:
    """Validation messages may end up in logs, which never carry names."""
    with pytest.raises(ConsentValidationError) as info:
        build_consent_sr(consent(**overrides), patient=ADULT, study=STUDY)
    assert info.value.argument in ("consenter_name", "authorised_by")
    assert "Harriet" not in str(info.value)


@pytest.mark.parametrize(
    "offset", [datetime.timedelta(hours=-10), datetime.timedelta(0), datetime.timedelta(hours=13)]
)
def test_a_decision_just_made_in_any_time_zone_is_not_in_the_future(
    offset: datetime.timedelta,
) -> None:
    just_now = datetime.datetime.now(datetime.timezone(offset)) - datetime.timedelta(seconds=1)
    ds = build_consent_sr(consent(decided_at=just_now), patient=ADULT, study=STUDY)
    assert ds.ContentDate
    naive_now = datetime.datetime.now() - datetime.timedelta(seconds=1)
    assert build_consent_sr(consent(decided_at=naive_now), patient=ADULT, study=STUDY)


def test_a_decision_in_the_future_is_refused() -> None:
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    with pytest.raises(ConsentValidationError) as info:
        build_consent_sr(consent(decided_at=later), patient=ADULT, study=STUDY)
    assert info.value.argument == "decided_at"
