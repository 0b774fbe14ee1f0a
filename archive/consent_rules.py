"""The consent rules as one decision table (rules R3-R11, docs/architecture.md).

Pure: facts about an instance and the consent documents currently covering
it go in; its availability, the reason, and the purposes it may be used for
come out. The archive stores the result on the instance so that the access
policy can filter in the database.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass

from pydicom import uid

from archive.models import Availability
from archive.uids import DOCUMENT_CLASSES
from consent_sr import ConsentBasis, Consenter, ConsentForm, ConsentLevel, ConsentStatus

ADULT_AGE = 18

# R8: object kinds with implicit (medical-record-only) consent, by SOP class ...
IMPLICIT_SOP_CLASSES = frozenset(
    {
        uid.VLEndoscopicImageStorage,
        uid.VideoEndoscopicImageStorage,
        uid.VLMicroscopicImageStorage,
        uid.VideoMicroscopicImageStorage,
        uid.VLSlideCoordinatesMicroscopicImageStorage,
        uid.VLWholeSlideMicroscopyImageStorage,
        # the retina, an internal organ (ophthalmic photography of the outer eye
        # and face needs consent like any photograph)
        uid.WideFieldOphthalmicPhotographyStereographicProjectionImageStorage,
        uid.WideFieldOphthalmicPhotography3DCoordinatesImageStorage,
        uid.UltrasoundImageStorage,
        uid.UltrasoundMultiFrameImageStorage,
        uid.ComputedRadiographyImageStorage,
        uid.DigitalXRayImageStorageForPresentation,
        uid.DigitalXRayImageStorageForProcessing,
        uid.DigitalMammographyXRayImageStorageForPresentation,
        uid.DigitalMammographyXRayImageStorageForProcessing,
        uid.XRayAngiographicImageStorage,
        uid.XRayRadiofluoroscopicImageStorage,
        uid.CTImageStorage,
    }
)
# ... or, for other classes (e.g. Secondary Capture), by modality.
IMPLICIT_MODALITIES = frozenset({"ES", "GM", "SM", "US", "CR", "DX", "MG", "XA", "RF", "CT", "IO"})
# Documents, not recordings: consent SRs, signed forms, key object notes, letters.
DOCUMENT_SOP_CLASSES = DOCUMENT_CLASSES
# R11: anatomy that makes a recording intimate (SNOMED CT codes and DICOM body parts).
INTIMATE_CODES = frozenset(
    {
        "76752008",  # breast
        "24142002",  # nipple
        "18911002",  # penis
        "20233005",  # scrotum
        "40689003",  # testis
        "45292006",  # vulva
        "76784001",  # vagina
        "38864007",  # perineum
        "53505006",  # anus
        "46862004",  # buttock
        "26893007",  # groin
        "263767004",  # genital structure (external)
    }
)
INTIMATE_BODY_PARTS = frozenset(
    {"BREAST", "PENIS", "SCROTUM", "TESTIS", "VULVA", "VAGINA", "PERINEUM", "ANUS", "BUTTOCK"}
)


class Kind(enum.Enum):
    RECORDING = "recording"  # needs explicit consent
    IMPLICIT = "implicit"  # R8
    DOCUMENT = "document"  # part of the record, not a recording


def kind_of(sop_class_uid: str, modality: str) -> Kind:
    if sop_class_uid in DOCUMENT_SOP_CLASSES:
        return Kind.DOCUMENT
    if sop_class_uid in IMPLICIT_SOP_CLASSES or modality.upper() in IMPLICIT_MODALITIES:
        return Kind.IMPLICIT
    return Kind.RECORDING


@dataclass(frozen=True)
class InstanceFacts:
    kind: Kind
    intimate: bool = False
    age_at_acquisition: int | None = None  # None when the birth date is unknown


@dataclass(frozen=True)
class ConsentFacts:
    """What the rules need from one current (unsuperseded) consent document."""

    document_uid: str
    status: ConsentStatus
    decided_at: dt.datetime
    level: ConsentLevel | None = None
    purpose: str = ""
    also_teaching: bool = False
    consenter: Consenter | None = None
    form: ConsentForm | None = None
    basis: ConsentBasis | None = None
    intimate_justification: str = ""


@dataclass(frozen=True)
class Decision:
    availability: Availability
    reason: str
    rule: str
    care: bool = False
    teaching: bool = False
    specified: str = ""  # the one named additional purpose, if any
    governing: str = ""  # SOP Instance UID of the governing consent document


def governing(current: Sequence[ConsentFacts]) -> ConsentFacts | None:
    """The document that decides, among the current ones covering an instance.

    Within a chain, supersession already removed older documents. Across
    chains: a Fraser-competent child's refusal or withdrawal overrides others
    (R10) unless a vital-interests (child-protection) basis is current;
    otherwise the newest decision wins.
    """
    if not current:
        return None
    vital = [c for c in current if c.basis is ConsentBasis.VITAL_INTERESTS]
    child_no = [
        c
        for c in current
        if c.consenter is Consenter.FRASER_COMPETENT_CHILD
        and c.status in (ConsentStatus.REFUSED, ConsentStatus.WITHDRAWN)
    ]
    pool = child_no if child_no and not vital else list(current)
    return max(pool, key=lambda c: (c.decided_at, c.document_uid))


def decide(facts: InstanceFacts, current: Sequence[ConsentFacts]) -> Decision:
    """Availability and permitted purposes of one instance (R3-R11)."""
    if facts.kind is Kind.DOCUMENT:
        return Decision(Availability.ACTIVE, "part of the record", "document", care=True)
    consent = governing(current)
    if consent is None:
        if facts.kind is Kind.IMPLICIT:
            return _unless_intimate(
                facts, None, Decision(Availability.ACTIVE, "implicit consent", "R8", care=True)
            )
        return Decision(Availability.HELD, "no consent recorded", "no-consent")
    uid = consent.document_uid
    if consent.status is ConsentStatus.WITHDRAWN:
        return Decision(Availability.QUARANTINED, "consent withdrawn", "R5", governing=uid)
    if consent.status is ConsentStatus.REFUSED:
        return Decision(Availability.QUARANTINED, "consent refused", "R6", governing=uid)
    if consent.status is ConsentStatus.PENDING_RETROSPECTIVE:
        return Decision(Availability.HELD, "consent pending (retrospective)", "R6", governing=uid)
    if consent.status is ConsentStatus.IMPLICIT:
        rule = "R9" if consent.basis is ConsentBasis.VITAL_INTERESTS else "R8"
        reason = (
            "recorded in the patient's vital interests"
            if rule == "R9"
            else "implicit consent (procedure)"
        )
        decision = Decision(Availability.ACTIVE, reason, rule, care=True, governing=uid)
        return _unless_intimate(facts, consent, decision)
    # Given.
    if (
        facts.age_at_acquisition is not None
        and facts.age_at_acquisition < ADULT_AGE
        and consent.form is not ConsentForm.WRITTEN
    ):
        return Decision(Availability.HELD, "child without written consent", "R10", governing=uid)
    level = consent.level
    decision = Decision(
        Availability.ACTIVE,
        f"consent given (level {level.number if level else '?'})",
        "R3",
        care=True,
        teaching=level is ConsentLevel.TEACHING
        or (level is ConsentLevel.SPECIFIED and consent.also_teaching),
        specified=consent.purpose if level is ConsentLevel.SPECIFIED else "",
        governing=uid,
    )
    return _unless_intimate(facts, consent, decision)


def _unless_intimate(
    facts: InstanceFacts, consent: ConsentFacts | None, decision: Decision
) -> Decision:
    """R11: an intimate recording without a recorded clinical justification is held."""
    if facts.intimate and not (consent and consent.intimate_justification.strip()):
        return Decision(
            Availability.HELD,
            "intimate area without a recorded clinical justification",
            "R11",
            governing=decision.governing,
        )
    return decision


def age_on(birth_date: str, day: str) -> int | None:
    """Whole years between two DICOM dates (YYYYMMDD); None if either is unusable."""
    try:
        born = dt.datetime.strptime(birth_date[:8], "%Y%m%d").date()
        when = dt.datetime.strptime(day[:8], "%Y%m%d").date()
    except ValueError:
        return None
    return when.year - born.year - int((when.month, when.day) < (born.month, born.day))
