"""The consent rules as one decision table: one test per rule, named after it
(docs/architecture.md, section 1)."""

from __future__ import annotations

import datetime as dt

import pytest
from pydicom import uid

from archive.consent.rules import ConsentFacts, Decision, InstanceFacts, Kind, decide, kind_of
from archive.models import Availability
from consent_sr import ConsentBasis, Consenter, ConsentForm, ConsentLevel, ConsentStatus

PHOTO = InstanceFacts(kind=Kind.RECORDING, age_at_acquisition=40)
T0 = dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC)


def given(level: ConsentLevel, **kw: object) -> ConsentFacts:
    values: dict[str, object] = {
        "document_uid": "1.1",
        "status": ConsentStatus.GIVEN,
        "decided_at": T0,
        "level": level,
        "consenter": Consenter.PATIENT,
        "form": ConsentForm.WRITTEN,
    }
    values.update(kw)
    return ConsentFacts(**values)  # type: ignore[arg-type]


def uses(d: Decision) -> tuple[str, bool, bool, str]:
    return (str(d.availability), d.care, d.teaching, d.specified)


def test_R3_level_1_is_care_only() -> None:
    assert uses(decide(PHOTO, [given(ConsentLevel.RECORD)])) == ("active", True, False, "")


def test_R3_level_2_is_care_and_teaching() -> None:
    assert uses(decide(PHOTO, [given(ConsentLevel.TEACHING)])) == ("active", True, True, "")


def test_R3_level_3_is_care_and_exactly_the_named_purpose() -> None:
    purpose = "Publication in the British Journal of Dermatology, case report 2026"
    d = decide(PHOTO, [given(ConsentLevel.SPECIFIED, purpose=purpose)])
    assert uses(d) == ("active", True, False, purpose)
    d = decide(PHOTO, [given(ConsentLevel.SPECIFIED, purpose=purpose, also_teaching=True)])
    assert uses(d) == ("active", True, True, purpose)


def test_R5_withdrawal_quarantines_and_ends_every_use() -> None:
    withdrawn = ConsentFacts(
        document_uid="1.2", status=ConsentStatus.WITHDRAWN, decided_at=T0 + dt.timedelta(days=1)
    )
    d = decide(PHOTO, [withdrawn])
    assert uses(d) == ("quarantined", False, False, "")
    assert d.reason == "consent withdrawn" and d.rule == "R5"


def test_R6_pending_retrospective_is_held_given_is_active_refused_is_quarantined() -> None:
    pending = ConsentFacts(
        document_uid="1.3", status=ConsentStatus.PENDING_RETROSPECTIVE, decided_at=T0
    )
    assert decide(PHOTO, [pending]).availability is Availability.HELD
    assert decide(PHOTO, [given(ConsentLevel.RECORD)]).availability is Availability.ACTIVE
    refused = ConsentFacts(document_uid="1.4", status=ConsentStatus.REFUSED, decided_at=T0)
    d = decide(PHOTO, [refused])
    assert (d.availability, d.reason) == (Availability.QUARANTINED, "consent refused")


def test_R8_implicit_consent_objects_are_care_only() -> None:
    for kind_facts in (InstanceFacts(kind=Kind.IMPLICIT),):
        assert uses(decide(kind_facts, [])) == ("active", True, False, "")
    implicit = ConsentFacts(
        document_uid="1.5",
        status=ConsentStatus.IMPLICIT,
        decided_at=T0,
        basis=ConsentBasis.IMPLICIT_PROCEDURE,
    )
    assert uses(decide(PHOTO, [implicit])) == ("active", True, False, "")


def test_R9_vital_interests_is_care_only_never_teaching() -> None:
    vital = ConsentFacts(
        document_uid="1.6",
        status=ConsentStatus.IMPLICIT,
        decided_at=T0,
        basis=ConsentBasis.VITAL_INTERESTS,
    )
    d = decide(PHOTO, [vital])
    assert uses(d) == ("active", True, False, "") and d.rule == "R9"


def test_R10_child_without_written_consent_is_held() -> None:
    child = InstanceFacts(kind=Kind.RECORDING, age_at_acquisition=11)
    verbal = given(
        ConsentLevel.TEACHING, consenter=Consenter.PARENT, form=ConsentForm.VERBAL_RECORDED
    )
    d = decide(child, [verbal])
    assert (d.availability, d.rule) == (Availability.HELD, "R10")
    written = given(ConsentLevel.TEACHING, consenter=Consenter.PARENT)
    assert decide(child, [written]).availability is Availability.ACTIVE
    # An adult's own verbal recorded consent is enough.
    own_verbal = given(ConsentLevel.TEACHING, form=ConsentForm.VERBAL_RECORDED)
    assert decide(PHOTO, [own_verbal]).availability is Availability.ACTIVE


def test_R10_fraser_competent_childs_refusal_overrides_a_parents_consent() -> None:
    child = InstanceFacts(kind=Kind.RECORDING, age_at_acquisition=15)
    parent = given(
        ConsentLevel.TEACHING,
        consenter=Consenter.PARENT,
        decided_at=T0 + dt.timedelta(days=2),
        document_uid="2.1",
    )
    refusal = ConsentFacts(
        document_uid="2.2",
        status=ConsentStatus.REFUSED,
        decided_at=T0,
        consenter=Consenter.FRASER_COMPETENT_CHILD,
    )
    assert decide(child, [parent, refusal]).availability is Availability.QUARANTINED


def test_R10_except_on_a_child_protection_basis() -> None:
    child = InstanceFacts(kind=Kind.RECORDING, age_at_acquisition=15)
    protection = ConsentFacts(
        document_uid="3.1",
        status=ConsentStatus.IMPLICIT,
        decided_at=T0 + dt.timedelta(days=1),
        basis=ConsentBasis.VITAL_INTERESTS,
    )
    refusal = ConsentFacts(
        document_uid="3.2",
        status=ConsentStatus.REFUSED,
        decided_at=T0,
        consenter=Consenter.FRASER_COMPETENT_CHILD,
    )
    assert uses(decide(child, [protection, refusal])) == ("active", True, False, "")


def test_R11_intimate_without_justification_is_held() -> None:
    intimate = InstanceFacts(kind=Kind.RECORDING, intimate=True, age_at_acquisition=40)
    d = decide(intimate, [given(ConsentLevel.RECORD)])
    assert (d.availability, d.rule) == (Availability.HELD, "R11")
    justified = given(ConsentLevel.RECORD, intimate_justification="Monitoring of lesion")
    assert decide(intimate, [justified]).availability is Availability.ACTIVE


def test_no_consent_and_no_implicit_basis_is_held() -> None:
    d = decide(PHOTO, [])
    assert (d.availability, d.reason) == (Availability.HELD, "no consent recorded")


def test_a_further_consent_adds_to_the_standing_one() -> None:
    old = given(ConsentLevel.TEACHING, document_uid="4.1")
    new = given(ConsentLevel.RECORD, document_uid="4.2", decided_at=T0 + dt.timedelta(hours=1))
    d = decide(PHOTO, [old, new])
    assert uses(d) == ("active", True, True, "") and d.governing == "4.2"


def test_documents_are_part_of_the_record() -> None:
    assert uses(decide(InstanceFacts(kind=Kind.DOCUMENT), [])) == ("active", True, False, "")


@pytest.mark.parametrize(
    ("sop_class", "modality", "kind"),
    [
        (uid.VLPhotographicImageStorage, "XC", Kind.RECORDING),
        (uid.DermoscopicPhotographyImageStorage, "XC", Kind.RECORDING),
        (uid.OphthalmicPhotography8BitImageStorage, "OP", Kind.RECORDING),  # may show the face
        (uid.EncapsulatedSTLStorage, "M3D", Kind.RECORDING),  # a 3D surface of the body
        (uid.EncapsulatedOBJStorage, "M3D", Kind.RECORDING),
        (
            uid.WideFieldOphthalmicPhotographyStereographicProjectionImageStorage,
            "OP",
            Kind.IMPLICIT,
        ),
        (uid.VLWholeSlideMicroscopyImageStorage, "SM", Kind.IMPLICIT),
        (uid.VideoEndoscopicImageStorage, "ES", Kind.IMPLICIT),
        (uid.SecondaryCaptureImageStorage, "ES", Kind.IMPLICIT),  # by modality
        (uid.SecondaryCaptureImageStorage, "XC", Kind.RECORDING),
        (uid.EncapsulatedCDAStorage, "DOC", Kind.DOCUMENT),
        (uid.EncapsulatedPDFStorage, "DOC", Kind.DOCUMENT),
        (uid.KeyObjectSelectionDocumentStorage, "KO", Kind.DOCUMENT),
    ],
)
def test_each_accepted_sop_class_has_the_consent_kind_r8_gives_it(
    sop_class: str, modality: str, kind: Kind
) -> None:
    assert kind_of(sop_class, modality) is kind
