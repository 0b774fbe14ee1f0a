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

from archive.models import Availability, Instance, NodeRole, Patient, Series, Study
from archive.uids import KOS


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
class Actor:
    """Who acts, in which role, for which purpose, from where: what every archive
    operation takes and its audit events record (ADR 0009).

    ``purpose`` is None for someone who acts for no purpose of use (an administrator,
    a camera sending what it took): such an actor sees nothing.

    ``review`` asks for the governance review path: it shows exactly the
    held and quarantined instances, and only to a role acting for the
    governance purpose under an open review with a stated reason
    (``review_reason``, ``review_number``; :mod:`archive.reviews`).
    """

    actor: str
    role: Role
    purpose: Purpose | None
    source: str = ""
    specified_purpose: str = ""
    review: bool = False
    review_reason: str = ""
    review_number: int | None = None
    # Subject access: the one patient an open review names (with its reason).
    review_patient: str = ""

    @classmethod
    def operator(cls, actor: str, *, source: str = "") -> Actor:
        """The archive's administrator at the local command line."""
        return cls(actor=actor, role=Role.OPERATOR, purpose=Purpose.GOVERNANCE, source=source)

    @property
    def purpose_label(self) -> str:
        if self.purpose is None:
            return ""
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


def acts_for_purposes(role: Role) -> bool:
    """Whether ``role`` works with recordings at all, under a purpose of use it
    chooses first. An administrator manages accounts and nodes and sees no images."""
    return bool(ROLE_PURPOSES.get(role))


def may_administer(role: Role, purpose: Purpose | None = None) -> bool:
    """Who manages accounts and DICOM nodes: administrators (who choose no purpose)."""
    return role is Role.ADMIN


def gives_up_administration(*, new_role: str | None = None, disable: bool = False) -> bool:
    """Whether a change to an administrator's account takes their administration
    away (disabled, or another role). Nobody makes it to their own account from
    their session (another administrator can); the archive keeps an active
    administrator whoever asks."""
    return disable or (new_role is not None and new_role != Role.ADMIN)


# Who takes recordings and sends them in through the web viewer.
UPLOADERS = frozenset({Role.PHOTOGRAPHER})


def may_upload(role: Role, purpose: Purpose | None) -> bool:
    """Who sends photos and videos in through the web viewer: a photographer, acting
    for a purpose it may act for."""
    return role in UPLOADERS and purpose is not None and role_may_act_for(role, purpose)


def may_oversee(role: Role, purpose: Purpose | None) -> bool:
    """Information-governance oversight: the review queue, availability changes
    and the audit trail; and, within an open review, consent decisions and
    governance actions over the held and quarantined recordings it shows.
    Governance staff acting for the governance purpose, nobody else."""
    return role is Role.GOVERNANCE and purpose is Purpose.GOVERNANCE


def acts_under_review(role: Role, purpose: Purpose | None, *, review_open: bool) -> bool:
    """Whether what someone decides (consent, availability) reaches beyond the
    record the held and quarantined recordings their open review shows: those
    who :func:`may_oversee`, while their review is open."""
    return review_open and may_oversee(role, purpose)


def may_open_review(role: Role, purpose: Purpose | None) -> bool:
    """Who opens (and ends) a review of their own session: governance staff acting
    for governance or for a subject access request. Only such sessions have one."""
    return role is Role.GOVERNANCE and purpose in (Purpose.GOVERNANCE, Purpose.SUBJECT_ACCESS)


def review_names_patient(purpose: Purpose | None) -> bool:
    """A review for a subject access request names the one patient it discloses
    (R1), and every look under that purpose carries it, on the review path or not."""
    return purpose is Purpose.SUBJECT_ACCESS


# How long a review may stay open, in hours: a web session's at most a day (and
# never past its session), a governance node's (the operator opens it) a week.
MAX_SESSION_REVIEW_HOURS = 24.0
MAX_NODE_REVIEW_HOURS = 24.0 * 7


def max_review_hours(*, session: bool) -> float:
    """The longest review of a web session (``session``) or of a governance node."""
    return MAX_SESSION_REVIEW_HOURS if session else MAX_NODE_REVIEW_HOURS


def node_may_review(role: NodeRole) -> bool:
    """Which DICOM nodes look at hidden objects: governance nodes alone call the
    review AE title (under an open review) and receive what it retrieves."""
    return role is NodeRole.GOVERNANCE


# Where a C-MOVE or a forwarding rule may send recordings (PS3.4 C.4.2.1.5:
# destinations are known to the SCP).
DESTINATION_ROLES = frozenset({NodeRole.PEER, NodeRole.EPR})


def may_receive(role: NodeRole, *, review: bool) -> bool:
    """Whether a node of ``role`` may receive recordings (C-MOVE destination,
    forwarding): held and quarantined ones (``review``) only a governance
    workstation, the others peers and EPRs."""
    return node_may_review(role) if review else role in DESTINATION_ROLES


def node_may_store(role: NodeRole, sop_class_uid: str) -> bool:
    """What a node may send us: a governance node only rejection notes (KOS)."""
    return role is not NodeRole.GOVERNANCE or sop_class_uid == KOS


def may_govern(requester: Actor) -> bool:
    """Who may hold, quarantine, release or erase: governance acting for governance,
    and the archive's administrator at the command line."""
    if requester.role is Role.OPERATOR:
        return True
    return may_oversee(requester.role, requester.purpose)


def governable(requester: Actor) -> ColumnElement[bool]:
    """The instances a governance action of ``requester`` may reach: what it sees in
    the record, and within an open review also the held and quarantined ones."""
    if not may_govern(requester):
        return false()
    if requester.role is Role.OPERATOR:
        return true()
    return _seen(requester)


def may_read_audit(requester: Actor) -> bool:
    """Who may read the audit trail: governance acting for governance."""
    return may_oversee(requester.role, requester.purpose)


def user_identity(requester: Actor) -> str:
    """The identity objects a person sent are recorded under (``Origin.identity``)."""
    return f"user:{requester.actor}"


def role_may_act_for(role: Role, purpose: Purpose | None) -> bool:
    return purpose in ROLE_PURPOSES.get(role, frozenset())


def visible(requester: Actor) -> ColumnElement[bool]:
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


def decidable(requester: Actor) -> ColumnElement[bool]:
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


def may_reverse(requester: Actor, *, written: bool, signed_form: bool) -> str:
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


def overview_shows(requester: Actor) -> ColumnElement[bool]:
    """Which recordings a patient's consent overview shows ``requester``: those it may
    see (on the review path, those its open review shows); the archive's
    administrator at the command line, every recording and tombstone."""
    if requester.role is Role.OPERATOR:
        return true()
    return visible(requester)


def _seen(requester: Actor) -> ColumnElement[bool]:
    """What ``requester`` sees in the record, and within an open review also what
    the review shows."""
    if not requester.review:
        return visible(requester)
    return or_(visible(replace(requester, review=False)), visible(requester))


def _of_patient(requester: Actor) -> ColumnElement[bool]:
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


def may_read(session: Session, requester: Actor, sop_instance_uid: str) -> bool:
    """The same decision for one instance (by SOP Instance UID)."""
    found = session.scalar(
        select(Instance.pk).where(Instance.sop_instance_uid == sop_instance_uid, visible(requester))
    )
    return found is not None
