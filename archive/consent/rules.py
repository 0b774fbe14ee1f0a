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
from dataclasses import dataclass, replace

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
    """What the rules need from one consent document covering an instance."""

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
    sequence: int = 0  # arrival order, between documents decided at the same moment


@dataclass(frozen=True)
class Decision:
    availability: Availability
    reason: str
    rule: str
    care: bool = False
    teaching: bool = False
    # the named additional purposes (level 3), one a line (PURPOSE_SEPARATOR)
    specified: str = ""
    governing: str = ""  # SOP Instance UID of the governing consent document


PARENTAL = frozenset({Consenter.PARENT, Consenter.LEGAL_GUARDIAN})
# Who may lift a competent child's refusal or withdrawal (R4): the child, or the
# patient once they decide for themselves; never a parent or guardian.
LIFTS_CHILD_VETO = frozenset({Consenter.FRASER_COMPETENT_CHILD, Consenter.PATIENT})
# The one named additional purposes of several level-3 consents, in one column.
PURPOSE_SEPARATOR = "\n"


def capacity_problem(consenter: Consenter | None, age: int | None) -> str:
    """Why ``consenter`` may not decide for a patient of this age at acquisition
    ("" when they may; R4). A parent or guardian decides only for a child; for an
    adult who lacks capacity only someone with lawful authority may
    (``representative``: a health and welfare attorney or a deputy)."""
    if consenter in PARENTAL and age is not None and age >= ADULT_AGE:
        return (
            f"a {consenter} may consent only for a child (the patient was {age} at "
            "acquisition); for an adult who lacks capacity record the person with lawful "
            "authority as consenter 'representative'"
        )
    return ""


def _order(c: ConsentFacts) -> tuple[dt.datetime, int, str]:
    return (c.decided_at, c.sequence, c.document_uid)


def decide(facts: InstanceFacts, chain: Sequence[ConsentFacts]) -> Decision:
    """Availability and permitted purposes of one instance (R3-R11), from the whole
    chain of consent documents that cover it (any order; read oldest first).

    - A document whose consenter may not decide for this patient counts for
      nothing (:func:`capacity_problem`), nor does a child's consent that is not
      written (R10).
    - A given consent adds its uses to the standing ones: a later consent for a
      further use never narrows an earlier one (R3). Only a withdrawal or refusal
      narrows: it ends every standing use (R5, R6).
    - A Fraser-competent child's refusal or withdrawal outweighs a later consent by
      a parent or guardian; only the child (or the patient) lifts it (R4).
    - A vital-interests basis (child protection, R9) keeps the recording in the
      medical record, for care only, whatever refusal follows or preceded it.
    """
    if facts.kind is Kind.DOCUMENT:
        return Decision(Availability.ACTIVE, "part of the record", "document", care=True)
    age = facts.age_at_acquisition
    child = age is not None and age < ADULT_AGE
    standing: list[ConsentFacts] = []
    vital: ConsentFacts | None = None
    closed: ConsentFacts | None = None  # the withdrawal or refusal standing now
    child_veto: ConsentFacts | None = None
    pending: ConsentFacts | None = None
    ignored: tuple[ConsentFacts, str, str] | None = None  # (document, why, rule)
    for c in sorted(chain, key=_order):
        why = capacity_problem(c.consenter, age)
        if why:
            ignored = (c, why, "R4")
            continue
        if c.status in (ConsentStatus.REFUSED, ConsentStatus.WITHDRAWN):
            standing, closed, pending = [], c, None
            if c.consenter is Consenter.FRASER_COMPETENT_CHILD:
                child_veto = c
            continue
        if c.status is ConsentStatus.PENDING_RETROSPECTIVE:
            pending = c
            continue
        if c.status is ConsentStatus.IMPLICIT and c.basis is ConsentBasis.VITAL_INTERESTS:
            vital = c
            continue
        if c.status is ConsentStatus.GIVEN:
            if child_veto is not None and c.consenter not in LIFTS_CHILD_VETO:
                ignored = (c, "a competent child's refusal outweighs a parent's consent", "R4")
                continue
            if child and c.form is not ConsentForm.WRITTEN:
                ignored = (c, "child without written consent", "R10")
                continue
            if c.consenter in LIFTS_CHILD_VETO:
                child_veto = None
        standing.append(c)  # given, or implicit consent for the procedure (R8)
        closed, pending = None, None
    justified = [c for c in (*standing, vital) if c and c.intimate_justification.strip()]
    if standing:
        newest = standing[-1]
        given = [c for c in standing if c.status is ConsentStatus.GIVEN]
        purposes = [
            c.purpose
            for c in given
            if c.level is ConsentLevel.SPECIFIED
            and c.purpose
            and PURPOSE_SEPARATOR not in c.purpose
        ]
        decision = Decision(
            Availability.ACTIVE,
            _given_reason(given) if given else "implicit consent (procedure)",
            "R3" if given else "R8",
            care=True,
            teaching=any(
                c.level is ConsentLevel.TEACHING
                or (c.level is ConsentLevel.SPECIFIED and c.also_teaching)
                for c in given
            ),
            specified=PURPOSE_SEPARATOR.join(dict.fromkeys(purposes)),
            governing=newest.document_uid,
        )
        return _unless_intimate(facts, bool(justified), decision)
    if vital is not None:
        reason = "recorded in the patient's vital interests"
        if closed is not None:
            child = facts.age_at_acquisition is not None and facts.age_at_acquisition < ADULT_AGE
            act = "refusal" if closed.status is ConsentStatus.REFUSED else "withdrawal"
            reason += (
                f" ({'child protection' if child else 'safeguarding'}: "
                f"kept for care only despite the {act})"
            )
        decision = Decision(
            Availability.ACTIVE, reason, "R9", care=True, governing=vital.document_uid
        )
        return _unless_intimate(facts, bool(justified), decision)
    if closed is not None:
        uid = closed.document_uid
        if closed.status is ConsentStatus.WITHDRAWN:
            return Decision(Availability.QUARANTINED, "consent withdrawn", "R5", governing=uid)
        return Decision(Availability.QUARANTINED, "consent refused", "R6", governing=uid)
    if pending is not None:
        return Decision(
            Availability.HELD,
            "consent pending (retrospective)",
            "R6",
            governing=pending.document_uid,
        )
    if facts.kind is Kind.IMPLICIT:
        return _unless_intimate(
            facts, False, Decision(Availability.ACTIVE, "implicit consent", "R8", care=True)
        )
    if ignored is not None:
        doc, why, rule = ignored
        return Decision(Availability.HELD, why, rule, governing=doc.document_uid)
    return Decision(Availability.HELD, "no consent recorded", "no-consent")


def _given_reason(given: Sequence[ConsentFacts]) -> str:
    """Names the standing consent: its newest level, and earlier ones it adds to."""
    numbers = [c.level.number if c.level else 0 for c in given]
    newest = numbers[-1]
    earlier = sorted({n for n in numbers[:-1] if n != newest})
    text = f"consent given (level {newest or '?'}"
    if earlier:
        text += ", adding to level " + " and ".join(str(n) for n in earlier)
    return text + ")"


def within_source(own: Decision, source: Decision | None, *, inherit: bool = False) -> Decision:
    """A derived object (a processed image, a frame of a video; R12) is used only
    within its source's consent: the stricter availability, and only the uses both
    permit. ``inherit``: no consent document covers the derived object itself, so
    its source's decision is its own. ``source`` None: the source is not in the
    archive, so it is held."""
    if inherit and source is not None:
        return replace(source, reason=f"source recording: {source.reason}")
    if source is None:
        if own.availability is Availability.ACTIVE:
            return Decision(
                Availability.HELD,
                "derived from a recording that is not in the archive",
                "R12",
                governing=own.governing,
            )
        return own
    rank = {Availability.ACTIVE: 0, Availability.HELD: 1, Availability.QUARANTINED: 2}
    if rank.get(source.availability, 3) > rank.get(own.availability, 3):
        return Decision(
            source.availability,
            f"source recording: {source.reason}",
            source.rule,
            governing=source.governing,
        )
    if own.availability is not Availability.ACTIVE:
        return own
    theirs = set(source.specified.split(PURPOSE_SEPARATOR)) if source.specified else set()
    specified = [p for p in own.specified.split(PURPOSE_SEPARATOR) if p and p in theirs]
    return Decision(
        own.availability,
        own.reason,
        own.rule,
        care=own.care and source.care,
        teaching=own.teaching and source.teaching,
        specified=PURPOSE_SEPARATOR.join(specified),
        governing=own.governing,
    )


# The governance layer (docs/architecture.md, section 3): a hold or quarantine by
# governance hides a recording whatever its consent says; consent never lifts it.
# How strict each state is; governance's erasure is the strictest and final.
RANK = {
    Availability.ACTIVE: 0,
    Availability.HELD: 1,
    Availability.QUARANTINED: 2,
    Availability.ERASED: 3,
}
# Which states each availability may be reached from; erasure is final.
ALLOWED_FROM: dict[Availability, frozenset[Availability]] = {
    Availability.ACTIVE: frozenset({Availability.HELD, Availability.QUARANTINED}),
    Availability.HELD: frozenset({Availability.ACTIVE, Availability.QUARANTINED}),
    Availability.QUARANTINED: frozenset({Availability.ACTIVE, Availability.HELD}),
    Availability.ERASED: frozenset(
        {Availability.ACTIVE, Availability.HELD, Availability.QUARANTINED}
    ),
}


@dataclass(frozen=True)
class Standing:
    """An instance's availability as both layers make it."""

    availability: Availability
    reason: str
    basis: str  # "consent" or "governance": whose decision governs now
    reason_code: str


def combine(
    decision: Decision, hold: Availability | None, hold_reason: str, hold_code: str
) -> Standing:
    """Consent's decision under governance's hold (None: no hold): the stricter
    governs, and on a tie governance's (only governance lifts it)."""
    if hold is not None and RANK[hold] >= RANK[decision.availability]:
        return Standing(hold, hold_reason, "governance", hold_code)
    code = {"R5": "consent-withdrawn", "R6": "consent-refused"}.get(decision.rule, "")
    if decision.availability is not Availability.QUARANTINED:
        code = ""
    return Standing(decision.availability, decision.reason, "consent", code)


def _unless_intimate(facts: InstanceFacts, justified: bool, decision: Decision) -> Decision:
    """R11: an intimate recording without a recorded clinical justification is held."""
    if facts.intimate and not justified:
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
