"""The small access rules in archive.policy, role by purpose: who oversees, who
opens reviews, who uploads, who administers, which nodes review, receive and
store what. Each test states the whole table, so a changed rule shows here."""

from __future__ import annotations

import itertools

import pytest

from archive import (
    KOS,
    Actor,
    Archive,
    InvalidArgument,
    NodeRole,
    Purpose,
    Role,
    session_subject,
)
from archive.policy import (
    MAX_NODE_REVIEW_HOURS,
    MAX_SESSION_REVIEW_HOURS,
    ROLE_PURPOSES,
    acts_for_purposes,
    acts_under_review,
    gives_up_administration,
    max_review_hours,
    may_administer,
    may_govern,
    may_open_review,
    may_oversee,
    may_read_audit,
    may_receive,
    may_upload,
    node_may_review,
    node_may_store,
    review_names_patient,
)
from tests.factory import VL_PHOTO

IG = Actor(actor="ig", role=Role.GOVERNANCE, purpose=Purpose.GOVERNANCE)

PURPOSES: list[Purpose | None] = [*Purpose, None]
CASES = list(itertools.product(Role, PURPOSES))


def _ids(case: tuple[Role, Purpose | None]) -> str:
    return f"{case[0]}-{case[1] or 'none'}"


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_each_rule_for_each_role_and_purpose(case: tuple[Role, Purpose | None]) -> None:
    role, purpose = case
    governance = role is Role.GOVERNANCE
    assert may_oversee(role, purpose) == (governance and purpose is Purpose.GOVERNANCE)
    assert may_open_review(role, purpose) == (
        governance and purpose in (Purpose.GOVERNANCE, Purpose.SUBJECT_ACCESS)
    )
    assert may_upload(role, purpose) == (role is Role.PHOTOGRAPHER and purpose is Purpose.CARE)
    assert may_administer(role, purpose) == (role is Role.ADMIN)
    for review_open in (False, True):
        assert acts_under_review(role, purpose, review_open=review_open) == (
            review_open and governance and purpose is Purpose.GOVERNANCE
        )
    if purpose is not None:
        requester = Actor(actor="a", role=role, purpose=purpose)
        assert may_read_audit(requester) == may_oversee(role, purpose)
        assert may_govern(requester) == (role is Role.OPERATOR or may_oversee(role, purpose))


@pytest.mark.parametrize("role", list(Role))
def test_administrators_and_machines_without_purposes_see_no_recordings(role: Role) -> None:
    assert acts_for_purposes(role) == (role in ROLE_PURPOSES and bool(ROLE_PURPOSES[role]))
    assert acts_for_purposes(role) == (role not in (Role.ADMIN, Role.MODALITY, Role.PEER))


@pytest.mark.parametrize("purpose", PURPOSES)
def test_only_subject_access_reviews_name_a_patient(purpose: Purpose | None) -> None:
    assert review_names_patient(purpose) == (purpose is Purpose.SUBJECT_ACCESS)


@pytest.mark.parametrize("role", list(Role))
def test_what_takes_an_administrator_s_administration_away(role: Role) -> None:
    assert gives_up_administration(new_role=str(role)) == (role is not Role.ADMIN)
    assert gives_up_administration(new_role=str(role), disable=True)
    assert gives_up_administration(disable=True)
    assert not gives_up_administration()


def test_review_lengths() -> None:
    assert max_review_hours(session=True) == MAX_SESSION_REVIEW_HOURS == 24
    assert max_review_hours(session=False) == MAX_NODE_REVIEW_HOURS == 24 * 7


@pytest.mark.parametrize("role", list(NodeRole))
def test_which_nodes_review_receive_and_store(role: NodeRole) -> None:
    governance = role is NodeRole.GOVERNANCE
    assert node_may_review(role) == governance
    assert may_receive(role, review=True) == governance
    assert may_receive(role, review=False) == (role in (NodeRole.PEER, NodeRole.EPR))
    assert node_may_store(role, KOS)
    assert node_may_store(role, VL_PHOTO) == (not governance)


def test_a_session_review_lasts_a_day_at_most(archive: Archive) -> None:
    subject = session_subject("0" * 64)
    reason = "complaint 123 about a photo"
    with pytest.raises(InvalidArgument, match="at most 24 hours"):
        archive.open_review(subject, reason=reason, requester=IG, hours=25)
    info = archive.open_review(subject, reason=reason, requester=IG, hours=24)
    assert info.subject == subject
