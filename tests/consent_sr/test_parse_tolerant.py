"""Tolerant on read: missing optional items, unknown extra items, equivalent codes,
documents from other writers. Each tolerance is noted in ``problems``."""

from __future__ import annotations

import copy
import datetime
from pathlib import Path

import highdicom as hd
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code

from consent_sr import (
    Consenter,
    ConsentLevel,
    ConsentParseError,
    ConsentStatus,
    NotAConsentSR,
    build_consent_form_pdf,
    build_consent_sr,
    is_consent_sr,
    parse_consent_sr,
)
from tests.consent_sr.helpers import (
    ADULT,
    CHILD,
    COVERED,
    CREATED,
    DECIDED,
    PHOTOS,
    PURPOSE,
    STUDY,
    consent,
    minimal_pdf,
    write_and_read,
)

PARENT = consent(
    consenter="parent",
    consenter_name="Nguyễn^Lan",
    circumstances="Mother present.",
    comment="Left forearm.",
)


def _built(tmp_path: Path, given: object = PARENT, patient: object = CHILD) -> Dataset:
    ds = build_consent_sr(given, patient=patient, study=STUDY, content_datetime=CREATED)  # type: ignore[arg-type]
    return write_and_read(ds, tmp_path / "sr.dcm")


def _item(ds: Dataset, code_value: str) -> Dataset:
    item: Dataset
    for item in ds.ContentSequence:
        if item.ConceptNameCodeSequence[0].CodeValue == code_value:
            return item
    raise KeyError(code_value)


def _remove(ds: Dataset, *code_values: str) -> None:
    ds.ContentSequence = [
        item
        for item in ds.ContentSequence
        if item.ConceptNameCodeSequence[0].CodeValue not in code_values
    ]


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def test_missing_optional_items_read_as_absent(tmp_path: Path) -> None:
    ds = _built(tmp_path)
    _remove(ds, "121106", "CIRCUMSTANCES")
    doc = parse_consent_sr(ds)
    assert doc.consent.comment is None
    assert doc.consent.circumstances is None
    assert doc.consent.consenter_name == "Nguyễn^Lan"
    assert doc.problems == ()


def test_missing_decision_datetime_and_observer_fall_back(tmp_path: Path) -> None:
    ds = _built(tmp_path)
    _remove(ds, "DECISION-DT", "121005", "121008")
    ds.VerificationFlag = "VERIFIED"
    observer = Dataset()
    observer.VerifyingObserverName = "Okafor^Adaeze"
    observer.VerifyingOrganization = "RI"
    observer.VerificationDateTime = "20250304110000"
    observer.VerifyingObserverIdentificationCodeSequence = []
    ds.VerifyingObserverSequence = [observer]
    doc = parse_consent_sr(ds)
    assert doc.consent.decided_at == CREATED
    assert doc.consent.recorded_by == "Okafor^Adaeze"
    assert len(doc.problems) == 2
    assert not doc.is_conformant


def test_observation_datetime_is_preferred_to_content_date(tmp_path: Path) -> None:
    ds = _built(tmp_path)
    _remove(ds, "DECISION-DT")
    _item(ds, "CONSENT-STATUS").ObservationDateTime = "20250303080000"
    doc = parse_consent_sr(ds)
    assert doc.consent.decided_at == datetime.datetime(2025, 3, 3, 8, 0)


def test_unknown_extra_items_are_ignored_and_reported(tmp_path: Path) -> None:
    ds = _built(tmp_path)
    extra = hd.sr.TextContentItem(
        Code("99999", "99OTHERVENDOR", "Vendor note"),
        "kept for audit",
        relationship_type="CONTAINS",
    )
    nested = hd.sr.NumContentItem(
        Code("8302-2", "LN", "Body height"),
        1.4,
        Code("m", "UCUM", "m"),
        relationship_type="HAS PROPERTIES",
    )
    _item(ds, "CONSENT-LEVEL").ContentSequence = [nested]
    ds.ContentSequence.append(extra)
    doc = parse_consent_sr(ds)
    assert doc.consent == PARENT
    assert len(doc.problems) == 2
    assert all("ignored unknown" in problem for problem in doc.problems)


def test_items_in_other_order_and_nesting(tmp_path: Path) -> None:
    ds = _built(tmp_path)
    items = list(ds.ContentSequence)
    container = Dataset()
    container.RelationshipType = "CONTAINS"
    container.ValueType = "CONTAINER"
    container.ContinuityOfContent = "SEPARATE"
    container.ConceptNameCodeSequence = [_code("111028", "DCM", "Image Library")]
    container.ContentSequence = [item for item in items if item.ValueType == "IMAGE"]
    rest = [item for item in items if item.ValueType != "IMAGE"]
    ds.ContentSequence = [container, *reversed(rest)]
    doc = parse_consent_sr(ds)
    assert doc.consent == PARENT
    assert doc.problems == ("ignored unknown CONTAINER item ('DCM', '111028')",)


def test_equivalent_schemes_are_accepted(tmp_path: Path) -> None:
    ds = _built(tmp_path)
    # LOINC spelt LNC at the root, SNOMED as SRT for the parent
    ds.ConceptNameCodeSequence[0].CodingSchemeDesignator = "LNC"
    ds.ContentTemplateSequence = []
    consenter = _item(ds, "CONSENTER")
    consenter.ConceptCodeSequence[0].CodingSchemeDesignator = "SRT"
    # the private scheme under another designator, bound by its declared UID
    ds.CodingSchemeIdentificationSequence[0].CodingSchemeDesignator = "99LOCAL"
    for item in ds.ContentSequence:
        for keyword in ("ConceptNameCodeSequence", "ConceptCodeSequence"):
            for code in item.get(keyword, []):
                if code.CodingSchemeDesignator == "99PHOTOPACS":
                    code.CodingSchemeDesignator = "99LOCAL"
                    code.CodeValue = code.CodeValue.lower()
    assert is_consent_sr(ds)
    doc = parse_consent_sr(ds)
    assert doc.consent == PARENT
    assert doc.problems == ("no Content Template Sequence naming CONSENT1",)


def test_snomed_patient_is_read_as_the_patient(tmp_path: Path) -> None:
    ds = _built(tmp_path, consent(), ADULT)
    _item(ds, "CONSENTER").ConceptCodeSequence = [_code("116154003", "SCT", "Patient")]
    doc = parse_consent_sr(ds)
    assert doc.consent.consenter is Consenter.PATIENT
    assert doc.problems == ()


def test_unknown_optional_code_and_wrong_value_type_are_skipped(tmp_path: Path) -> None:
    ds = _built(tmp_path)
    _item(ds, "CONSENT-LEVEL").ConceptCodeSequence = [_code("LEVEL-9", "99PHOTOPACS", "?")]
    comment = _item(ds, "121106")
    comment.ValueType = "CODE"
    comment.ConceptCodeSequence = [_code("1", "99X", "x")]
    doc = parse_consent_sr(ds)
    assert doc.consent.level is None
    assert doc.consent.comment is None
    assert doc.consent.status is ConsentStatus.GIVEN
    assert len(doc.problems) == 2


LEVEL_3_TEACHING = consent(level="specified", purpose=PURPOSE, also_teaching=True)


def test_missing_also_teaching_item_reads_as_false(tmp_path: Path) -> None:
    ds = _built(tmp_path, LEVEL_3_TEACHING, ADULT)
    assert parse_consent_sr(ds).consent.also_teaching is True
    _remove(ds, "ALSO-PERMITTED")
    doc = parse_consent_sr(ds)
    assert doc.consent.also_teaching is False
    assert doc.consent.purpose == PURPOSE
    assert doc.problems == ()


def test_also_teaching_item_from_another_writer(tmp_path: Path) -> None:
    """Another meaning, a local designator for the private scheme, nested under the
    purpose item: still teaching. An unknown use code is skipped and reported."""
    ds = _built(tmp_path, LEVEL_3_TEACHING, ADULT)
    item = _item(ds, "ALSO-PERMITTED")
    _remove(ds, "ALSO-PERMITTED")
    ds.CodingSchemeIdentificationSequence[0].CodingSchemeDesignator = "99LOCAL"
    item.ConceptNameCodeSequence = [_code("also-permitted", "99LOCAL", "Other uses")]
    item.ConceptCodeSequence = [_code("113004", "DCM", "Teaching")]
    _item(ds, "PURPOSE").ContentSequence = [item]
    doc = parse_consent_sr(ds)
    assert doc.consent.also_teaching is True
    assert doc.problems == ()

    item.ConceptCodeSequence = [_code("113009", "DCM", "For Research")]
    doc = parse_consent_sr(ds)
    assert doc.consent.also_teaching is False
    assert doc.problems == ("unknown also-permitted use code ('DCM', '113009'); ignored",)


def test_repeated_also_teaching_items_read_as_one(tmp_path: Path) -> None:
    ds = _built(tmp_path, LEVEL_3_TEACHING, ADULT)
    ds.ContentSequence.append(copy.deepcopy(_item(ds, "ALSO-PERMITTED")))
    doc = parse_consent_sr(ds)
    assert doc.consent == LEVEL_3_TEACHING
    assert doc.problems == ("2 also-permitted teaching items; read as one",)


@pytest.mark.parametrize(
    ("level_code", "level", "shown"),
    [
        ("LEVEL-1", ConsentLevel.RECORD, "level 1"),
        ("LEVEL-2", ConsentLevel.TEACHING, "level 2"),
        ("LEVEL-9", None, "no level"),
    ],
)
def test_also_teaching_outside_level_3_is_skipped(
    level_code: str, level: ConsentLevel | None, shown: str, tmp_path: Path
) -> None:
    """Never credulous: item 6a on a level-1 (or unreadable-level) document must not
    grant teaching; it is skipped and reported."""
    ds = _built(tmp_path, LEVEL_3_TEACHING, ADULT)
    _item(ds, "CONSENT-LEVEL").ConceptCodeSequence = [_code(level_code, "99PHOTOPACS", "L")]
    _remove(ds, "PURPOSE")
    doc = parse_consent_sr(ds)
    assert doc.consent.level is level
    assert doc.consent.also_teaching is False
    assert doc.problems[-1] == f"also-teaching item on a consent with {shown}; ignored"


def test_covered_items_missing_fall_back_to_evidence(tmp_path: Path) -> None:
    pdf = build_consent_form_pdf(minimal_pdf(), patient=ADULT, study=STUDY)
    ds = _built(tmp_path, consent(signed_form=pdf), ADULT)
    _remove(ds, "COVERED")
    doc = parse_consent_sr(ds)
    assert doc.consent.covered == consent().covered
    assert doc.consent.signed_form is not None
    assert doc.problems == ("no covered-recording items; covered read from the evidence",)


def test_reference_missing_from_evidence_is_reported(tmp_path: Path) -> None:
    ds = _built(tmp_path)
    ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence = [
        series
        for series in ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence
        if series.SeriesInstanceUID == PHOTOS[0].series_instance_uid
    ]
    doc = parse_consent_sr(ds)
    assert {ref.sop_instance_uid for ref in doc.covered} == {r.sop_instance_uid for r in COVERED}
    video = next(ref for ref in doc.covered if ref.series_instance_uid == "")
    assert video.study_instance_uid == STUDY.study_instance_uid
    assert any("not listed in the evidence" in problem for problem in doc.problems)


def test_bad_header_values_are_tolerated(tmp_path: Path) -> None:
    ds = _built(tmp_path)
    ds.PatientSex = "X"
    with pytest.warns(UserWarning, match="Invalid value for VR DA"):
        ds.PatientBirthDate = "20251399"
    doc = parse_consent_sr(ds)
    assert doc.patient.sex is None
    assert doc.patient.birth_date is None
    assert len(doc.problems) == 2


def test_missing_status_is_an_error(tmp_path: Path) -> None:
    ds = _built(tmp_path)
    _remove(ds, "CONSENT-STATUS")
    with pytest.raises(ConsentParseError):
        parse_consent_sr(ds)


def test_unknown_status_is_an_error(tmp_path: Path) -> None:
    ds = _built(tmp_path)
    _item(ds, "CONSENT-STATUS").ConceptCodeSequence = [_code("MAYBE", "99PHOTOPACS", "?")]
    with pytest.raises(ConsentParseError):
        parse_consent_sr(ds)


def test_no_date_at_all_is_an_error(tmp_path: Path) -> None:
    ds = _built(tmp_path)
    _remove(ds, "DECISION-DT")
    del ds.ContentDate
    with pytest.raises(ConsentParseError):
        parse_consent_sr(ds)


def test_other_documents_are_not_consent_srs(tmp_path: Path) -> None:
    pdf = write_and_read(
        build_consent_form_pdf(minimal_pdf(), patient=ADULT, study=STUDY), tmp_path / "f.dcm"
    )
    other_sr = copy.deepcopy(_built(tmp_path))
    other_sr.ConceptNameCodeSequence = [_code("126000", "DCM", "Imaging Measurement Report")]
    other_sr.ContentTemplateSequence[0].TemplateIdentifier = "1500"
    other_sr.ContentTemplateSequence[0].MappingResource = "DCMR"
    del other_sr.ContentTemplateSequence[0].MappingResourceUID
    for ds in (pdf, other_sr, Dataset()):
        assert not is_consent_sr(ds)
        with pytest.raises(NotAConsentSR):
            parse_consent_sr(ds)


def test_document_from_another_writer(tmp_path: Path) -> None:
    """A consent SR written from TEMPLATE.md alone, with highdicom, as an Enhanced SR,
    without template identification, observer context or covered-item names."""
    evidence = []
    for ref in PHOTOS:
        image = Dataset()
        image.StudyInstanceUID = ref.study_instance_uid
        image.SeriesInstanceUID = ref.series_instance_uid
        image.SOPClassUID = ref.sop_class_uid
        image.SOPInstanceUID = ref.sop_instance_uid
        image.PatientID = ADULT.patient_id
        image.PatientName = ADULT.name
        image.PatientBirthDate = "19710602"
        image.PatientSex = "F"
        image.AccessionNumber = ""
        image.StudyID = ""
        image.StudyDate = "20250304"
        image.StudyTime = "0915"
        evidence.append(image)
    private = "99PHOTOPACS"
    root = hd.sr.ContainerContentItem(Code("59284-0", "LN", "Patient Consent"))
    root.ContentSequence = hd.sr.ContentSequence(
        [
            hd.sr.CodeContentItem(
                Code("CONSENT-STATUS", private, "Consent status"),
                Code("122004", "DCM", "Patient informed consent given"),
                relationship_type="CONTAINS",
            ),
            hd.sr.CodeContentItem(
                Code("CONSENT-LEVEL", private, "Level"),
                Code("LEVEL-1", private, "Record"),
                relationship_type="CONTAINS",
            ),
            hd.sr.DateTimeContentItem(
                Code("DECISION-DT", private, "When"), DECIDED, relationship_type="CONTAINS"
            ),
        ]
    )
    sr = hd.sr.EnhancedSR(
        evidence=evidence,
        content=root,
        series_instance_uid=hd.UID(),
        series_number=5,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="Other Vendor",
    )
    back = pydicom.dcmread(_save(sr, tmp_path / "other.dcm"))
    assert is_consent_sr(back)
    doc = parse_consent_sr(back)
    assert doc.consent.status is ConsentStatus.GIVEN
    assert doc.consent.level is ConsentLevel.RECORD
    assert doc.consent.decided_at == DECIDED
    assert {ref.sop_instance_uid for ref in doc.covered} == {r.sop_instance_uid for r in PHOTOS}
    assert doc.patient.patient_id == ADULT.patient_id
    assert doc.consent.recorded_by == ""
    assert len(doc.problems) == 3


def _save(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path
