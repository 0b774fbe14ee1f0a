"""Role x purpose x write endpoint, with the hidden-state variants: consent
decisions (API and HTML form) and governance actions reach exactly the
recordings the access policy lets each principal decide on; everything else is
a 404 that changes nothing. Each principal gets a fresh scenario."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from archive import Archive
from archive.models import Instance
from tests.web_viewer.helpers import (
    PHOTOGRAPHER,
    add_user,
    build_scenario,
    choose,
    make_client,
    open_review,
    sign_in,
)

KINDS = ("held", "quarantined", "withdrawn", "teaching", "level3", "vital")
VISIBLE_FOR_CARE = {"teaching", "level3", "vital"}
HIDDEN = {"held", "quarantined", "withdrawn"}
RECORD = {"decision": "given", "level": "record", "consenter": "patient", "form": "written"}

# name, role, purpose, open review, kinds it may record consent on, kinds it may govern
PRINCIPALS = [
    ("clinician", "clinician", "care", False, VISIBLE_FOR_CARE, set()),
    # the photographer took the held photo; the withdrawn one needs a signed form
    (PHOTOGRAPHER, "photographer", "care", False, VISIBLE_FOR_CARE | {"held"}, set()),
    ("phot2", "photographer", "care", False, VISIBLE_FOR_CARE, set()),
    ("educator", "educator", "teaching", False, set(), set()),
    # governance records consent decisions only within an open review (403 until then)
    ("ig", "governance", "governance", False, set(), VISIBLE_FOR_CARE),
    # within a review governance also reaches held and quarantined ones (withdrawn
    # ones only with a written consent and its signed form)
    ("ig-review", "governance", "governance", True, set(KINDS) - {"withdrawn"}, set(KINDS)),
    ("admin", "admin", None, False, set(), set()),
]


def _states(archive: Archive) -> dict[str, str]:
    with archive.sessions() as s:
        return {i.sop_instance_uid: str(i.availability) for i in s.scalars(select(Instance))}


@pytest.mark.parametrize("principal", PRINCIPALS, ids=[p[0] for p in PRINCIPALS])
def test_consent_and_governance_writes_follow_the_policy(
    archive: Archive,
    tmp_path: Path,
    principal: tuple[str, str, str | None, bool, set[str], set[str]],
) -> None:
    name, role, purpose, review, may_record, may_govern = principal
    scenario = build_scenario(archive)
    add_user(archive, name, role)
    client = make_client(archive, tmp_path)
    token = sign_in(client, name)
    if purpose:
        choose(client, purpose)
    if review:
        open_review(client)
    problems: list[str] = []
    for kind in KINDS:
        study, uid = scenario.studies[kind], scenario.uids[kind]
        before = _states(archive)
        r = client.post("/api/patients/M1/consent", json={"study_instance_uid": study, **RECORD})
        expected = 200 if kind in may_record else _refused_with(name, review, kind)
        if r.status_code != expected:
            problems.append(f"{name}: record consent on {kind} -> {r.status_code}, want {expected}")
        if r.status_code != 200 and _states(archive) != before:
            problems.append(f"{name}: refused consent on {kind} changed something")
        if r.status_code != 200 and uid in r.text:
            problems.append(f"{name}: refusal names the {kind} recording")
        form = {"csrf_token": token, "study": study, **{k: v for k, v in RECORD.items()}}
        before = _states(archive)
        page = client.post("/patients/M1/consent", data=form)
        recorded = page.status_code == 303 and "done=recorded" in page.headers.get("location", "")
        if kind not in may_record and (recorded or _states(archive) != before):
            problems.append(f"{name}: HTML consent form on {kind} -> {page.status_code}")
    for kind in KINDS:
        uid = scenario.uids[kind]
        before = _states(archive)
        r = client.post(
            "/api/availability",
            json={"level": "image", "uid": uid, "action": "hold", "reason": "IG check of a photo"},
        )
        allowed = kind in may_govern
        if (r.status_code == 200) != allowed:
            problems.append(f"{name}: hold {kind} -> {r.status_code}, allowed={allowed}")
        if not allowed and _states(archive) != before:
            problems.append(f"{name}: refused hold of {kind} changed something")
    assert problems == [], "\n".join(problems)


def _refused_with(name: str, review: bool, kind: str) -> int:
    """The answer to a decision the principal may not record: 404 (as if absent),
    except 403 with the reason where it reaches the recording but the request is not
    enough — a withdrawal reversed without a signed form (the photographer who took
    it, governance within a review) — and governance before it opens a review."""
    if name == "ig":
        return 403
    if kind == "withdrawn" and (name == PHOTOGRAPHER or review):
        return 403
    return 404
