"""The one access-policy decision (docs/architecture.md, section 3).

Every read path — C-FIND, C-MOVE, C-GET, the web viewer, DICOMweb, exports —
asks this module, and nothing else, which instances a requester may see.
:func:`visible` is the decision as a SQL predicate over :class:`Instance`
(so queries filter in the database, counts included); :func:`may_read`
applies the same predicate to one instance.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.orm import Session

from archive.models import Availability, Instance, Patient, Series, Study


class Role(enum.StrEnum):
    """Who is asking: people (web viewer), machines (by their AE's role), operators."""

    CLINICIAN = "clinician"
    PHOTOGRAPHER = "photographer"
    EDUCATOR = "educator"
    GOVERNANCE = "governance"
    ADMIN = "admin"
    MODALITY = "modality"
    EPR = "epr"
    PEER = "peer"
    OPERATOR = "operator"  # the local command line, run by the archive's administrator


class Purpose(enum.StrEnum):
    """Purposes of use; ``specified`` carries its text separately."""

    CARE = "care"
    TEACHING = "teaching"
    SPECIFIED = "specified"
    GOVERNANCE = "governance"
    SUBJECT_ACCESS = "subject-access"


# Which purposes each role may act for. Admin sees no images at all.
ROLE_PURPOSES: dict[Role, frozenset[Purpose]] = {
    Role.CLINICIAN: frozenset({Purpose.CARE}),
    Role.PHOTOGRAPHER: frozenset({Purpose.CARE}),
    Role.EDUCATOR: frozenset({Purpose.TEACHING, Purpose.SPECIFIED}),
    Role.GOVERNANCE: frozenset({Purpose.GOVERNANCE, Purpose.SUBJECT_ACCESS}),
    Role.ADMIN: frozenset(),
    Role.MODALITY: frozenset(),
    Role.EPR: frozenset({Purpose.CARE}),
    Role.PEER: frozenset(),
    Role.OPERATOR: frozenset({Purpose.CARE, Purpose.GOVERNANCE}),
}

REVIEWABLE = (Availability.HELD, Availability.QUARANTINED)


@dataclass(frozen=True)
class Requester:
    """Who reads, in which role, for which purpose, from where.

    ``review`` asks for the governance review path: it shows exactly the
    held and quarantined instances, and only to a role acting for the
    governance purpose under an open review with a stated reason
    (``review_reason``, ``review_number``; :mod:`archive.reviews`).
    """

    actor: str
    role: Role
    purpose: Purpose
    source: str = ""
    specified_purpose: str = ""
    review: bool = False
    review_reason: str = ""
    review_number: int | None = None
    # Subject access: the one patient an open review names (with its reason).
    review_patient: str = ""

    @classmethod
    def operator(cls, actor: str, *, source: str = "") -> Requester:
        """The archive's administrator at the local command line."""
        return cls(actor=actor, role=Role.OPERATOR, purpose=Purpose.GOVERNANCE, source=source)

    @property
    def purpose_label(self) -> str:
        if self.purpose is Purpose.SPECIFIED:
            return f"specified:{self.specified_purpose}"
        return str(self.purpose)

    @property
    def audit_detail(self) -> dict[str, object]:
        """What every audit event of this requester's reads says about review."""
        if self.purpose is Purpose.SUBJECT_ACCESS:
            return {
                "review": self.review,
                "review_reason": self.review_reason,
                "review_number": self.review_number,
                "subject_access_patient": self.review_patient,
            }
        if not self.review:
            return {"review": False}
        return {
            "review": True,
            "review_reason": self.review_reason,
            "review_number": self.review_number,
        }


# Who sends IOCM rejection notes: governance nodes and the local operator.
MAY_REJECT = frozenset({Role.GOVERNANCE, Role.OPERATOR})


def may_govern(requester: Requester) -> bool:
    """Who may hold, quarantine, release or erase: governance acting for governance,
    and the archive's administrator at the command line."""
    if requester.role is Role.OPERATOR:
        return True
    return requester.role is Role.GOVERNANCE and requester.purpose is Purpose.GOVERNANCE


def governable(requester: Requester) -> ColumnElement[bool]:
    """The instances a governance action of ``requester`` may reach: what it sees in
    the record, and within an open review also the held and quarantined ones."""
    if not may_govern(requester):
        return false()
    if requester.role is Role.OPERATOR:
        return true()
    return _seen(requester)


def may_read_audit(requester: Requester) -> bool:
    """Who may read the audit trail: governance acting for governance."""
    return requester.role is Role.GOVERNANCE and requester.purpose is Purpose.GOVERNANCE


def user_identity(requester: Requester) -> str:
    """The identity objects a person sent are recorded under (``Origin.identity``)."""
    return f"user:{requester.actor}"


def role_may_act_for(role: Role, purpose: Purpose) -> bool:
    return purpose in ROLE_PURPOSES.get(role, frozenset())


def visible(requester: Requester) -> ColumnElement[bool]:
    """The access decision as a predicate over :class:`Instance` rows:
    visible(instance, role, purpose) = instance active AND role may act for
    the purpose AND the governing consent covers the purpose."""
    if not role_may_act_for(requester.role, requester.purpose):
        return false()
    active = Instance.availability == Availability.ACTIVE
    if requester.review:
        if requester.purpose is not Purpose.GOVERNANCE or not requester.review_reason.strip():
            return false()  # no look at hidden objects without a stated reason
        if requester.review_patient.strip():  # a review that names a patient shows no other
            return and_(Instance.availability.in_(REVIEWABLE), _of_patient(requester))
        return Instance.availability.in_(REVIEWABLE)
    if requester.purpose is Purpose.GOVERNANCE:
        return active  # oversight of the whole visible record
    if requester.purpose is Purpose.SUBJECT_ACCESS:
        # R1: everything held for the patient is disclosable to them; but only for
        # the one patient an open review names, with its stated reason.
        if not requester.review_patient.strip() or not requester.review_reason.strip():
            return false()
        return and_(Instance.availability != Availability.ERASED, _of_patient(requester))
    if requester.purpose is Purpose.TEACHING:
        return and_(active, Instance.use_teaching.is_(True))
    if requester.purpose is Purpose.SPECIFIED:
        wanted = requester.specified_purpose.strip()
        if not wanted:
            return false()
        return and_(active, _names_purpose(wanted))
    care = and_(active, Instance.use_care.is_(True))
    if requester.role is Role.PHOTOGRAPHER:
        # A photographer also sees the held recordings they took, to get consent
        # recorded: held for want of consent, never by governance.
        return or_(
            care,
            and_(
                Instance.availability == Availability.HELD,
                Instance.governance_hold == "",
                Instance.received_by == user_identity(requester),
            ),
        )
    return care


# Several level-3 consents name several purposes, one a line in ``use_specified``
# (archive.consent.rules.PURPOSE_SEPARATOR).
_SEPARATOR = "\n"


def _names_purpose(wanted: str) -> ColumnElement[bool]:
    column = Instance.use_specified
    return or_(
        column == wanted,
        column.startswith(wanted + _SEPARATOR, autoescape=True),
        column.endswith(_SEPARATOR + wanted, autoescape=True),
        column.contains(_SEPARATOR + wanted + _SEPARATOR, autoescape=True),
    )


# Who records consent decisions: the clinical team, photographers, governance,
# and the administrator's command line. Educators and administrators do not.
DECIDERS = frozenset({Role.CLINICIAN, Role.PHOTOGRAPHER, Role.GOVERNANCE, Role.OPERATOR})
# Who may return a recording to use after a withdrawal or refusal (R5, R6), and
# then only with a new written consent and its signed form.
REVERSERS = frozenset({Role.PHOTOGRAPHER, Role.GOVERNANCE, Role.OPERATOR})


def may_record_consent(role: Role, purpose: Purpose | None) -> bool:
    """Whether someone in ``role`` acting for ``purpose`` is offered the recording
    of consent decisions at all (which recordings: :func:`decidable`): the
    :data:`DECIDERS`, governance staff only while acting for governance."""
    if role is Role.GOVERNANCE:
        return purpose is Purpose.GOVERNANCE
    return role in DECIDERS


def decidable(requester: Requester) -> ColumnElement[bool]:
    """The recordings on which ``requester`` may record a consent decision, as a
    predicate over :class:`Instance`: those it may see for the purpose it acts
    under; a photographer also those it took that wait for consent or that
    consent took out of use (for the patient's new written consent); governance
    within an open review also the held and quarantined ones."""
    if requester.role not in DECIDERS:
        return false()
    if requester.role is Role.OPERATOR:
        return Instance.availability != Availability.ERASED
    seen = _seen(requester)
    if requester.role is Role.PHOTOGRAPHER and role_may_act_for(requester.role, requester.purpose):
        own = and_(
            Instance.received_by == user_identity(requester),
            Instance.governance_hold == "",
            or_(
                Instance.availability == Availability.HELD,
                and_(
                    Instance.availability == Availability.QUARANTINED,
                    Instance.availability_basis == "consent",
                ),
            ),
        )
        seen = or_(seen, own)
    return seen


def may_reverse(requester: Requester, *, written: bool, signed_form: bool) -> str:
    """Why ``requester`` may not return withdrawn or refused recordings to use
    with this consent ("" when it may): R5 and R6 are not undone lightly."""
    if requester.role not in REVERSERS:
        return "only a photographer or governance may record consent after a withdrawal or refusal"
    if not written or not signed_form:
        return (
            "after a withdrawal or refusal, only a new written consent with its signed "
            "form returns the recordings to use"
        )
    return ""


def _seen(requester: Requester) -> ColumnElement[bool]:
    """What ``requester`` sees in the record, and within an open review also what
    the review shows."""
    if not requester.review:
        return visible(requester)
    return or_(visible(replace(requester, review=False)), visible(requester))


def _of_patient(requester: Requester) -> ColumnElement[bool]:
    """Instances of the patient the requester's review names."""
    return Instance.series_pk.in_(
        select(Series.pk)
        .join(Study, Series.study_pk == Study.pk)
        .join(Patient, Study.patient_pk == Patient.pk)
        .where(Patient.patient_id == requester.review_patient.strip())
    )


def permitted_uses(instance: Instance) -> list[str]:
    """The purposes the governing consent permits for an instance, as labels
    ("care", "teaching", "specified:<purpose>") — the same columns ``visible`` reads."""
    uses = [u for u, ok in (("care", instance.use_care), ("teaching", instance.use_teaching)) if ok]
    uses.extend(f"specified:{p}" for p in instance.use_specified.split(_SEPARATOR) if p)
    return uses


def may_read(session: Session, requester: Requester, sop_instance_uid: str) -> bool:
    """The same decision for one instance (by SOP Instance UID)."""
    found = session.scalar(
        select(Instance.pk).where(Instance.sop_instance_uid == sop_instance_uid, visible(requester))
    )
    return found is not None
