"""Property: random sequences of consent decisions and governance actions, each by
a random actor (clinician, educator, photographer, EPR, governance with and
without an open review, the operator), never make a recording visible for a
purpose its consent does not permit, never let a withdrawal or refusal be undone
except by a new written consent with its signed form recorded by a photographer or
governance, and every refused request leaves exactly one refused audit event
(R5, R6, R14). Through the archive's public API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from sqlalchemy import func, select

from archive import (
    Actor,
    Archive,
    ArchiveError,
    Availability,
    ConsentRequest,
    Level,
    Origin,
    Purpose,
    Role,
)
from archive.models import AuditEvent
from consent_sr import ConsentStatus
from tests.archive.test_property_hidden import fresh_archive
from tests.conftest import BACKENDS, property_settings
from tests.factory import VL_PHOTO, encode, make_dataset

SIGNED = b"%PDF-1.4\n% signed consent form\n%%EOF\n"
EXAMPLES = {"sqlite": 30, "postgresql": 8}
REASON = "IG-7: property test of who may decide"

ACTORS = {
    "clinician": Actor(actor="dr", role=Role.CLINICIAN, purpose=Purpose.CARE),
    "educator": Actor(actor="edu", role=Role.EDUCATOR, purpose=Purpose.TEACHING),
    "photographer": Actor(actor="phot", role=Role.PHOTOGRAPHER, purpose=Purpose.CARE),
    "other-photographer": Actor(actor="phot2", role=Role.PHOTOGRAPHER, purpose=Purpose.CARE),
    "epr": Actor(actor="EPR1", role=Role.EPR, purpose=Purpose.CARE),
    "governance": Actor(actor="ig", role=Role.GOVERNANCE, purpose=Purpose.GOVERNANCE),
    "review": Actor(
        actor="ig",
        role=Role.GOVERNANCE,
        purpose=Purpose.GOVERNANCE,
        review=True,
        review_reason=REASON,
        review_number=1,
    ),
    "operator": Actor.operator("cli:test"),
}
# Who reads for each purpose when the invariants are checked.
READERS = {
    "care": Actor(actor="EPR1", role=Role.EPR, purpose=Purpose.CARE),
    "teaching": Actor(actor="edu", role=Role.EDUCATOR, purpose=Purpose.TEACHING),
}
CONSENTS = {
    "record": {"level": "record", "consenter": "patient", "form": "written", "form_pdf": SIGNED},
    "teaching": {
        "level": "teaching",
        "consenter": "patient",
        "form": "written",
        "form_pdf": SIGNED,
    },
    "verbal": {"level": "record", "consenter": "patient", "form": "verbal-recorded"},
    "unsigned": {"level": "teaching", "consenter": "patient", "form": "written"},
    "withdraw": {"consenter": "patient"},
    "refuse": {"consenter": "patient"},
}
GOVERN = {
    "hold": Availability.HELD,
    "quarantine": Availability.QUARANTINED,
    "release": Availability.ACTIVE,
    "erase": Availability.ERASED,
}
step_st = st.tuples(
    st.sampled_from(sorted(ACTORS)),
    st.sampled_from(sorted(CONSENTS) + sorted(GOVERN)),
    st.sampled_from([Level.STUDY, Level.SERIES, Level.IMAGE]),
    st.integers(0, 3),
)


@dataclass
class Model:
    """What the test knows happened to each photo, from the requests that succeeded."""

    study_of: dict[str, str]
    series_of: dict[str, str]
    consents: dict[str, list[str]] = field(default_factory=dict)  # photo -> kinds, in order
    governance: dict[str, Availability | None] = field(default_factory=dict)

    def uses(self, uid: str) -> set[str]:
        """The uses the photo's consents permit (a necessary condition for a look)."""
        chain = self.consents.get(uid, [])
        last_no = max((n for n, k in enumerate(chain) if k in ("withdraw", "refuse")), default=-1)
        given = [
            k for k in chain[last_no + 1 :] if k in ("record", "teaching", "verbal", "unsigned")
        ]
        if not given:
            return set()
        return {"care", "teaching"} if {"teaching", "unsigned"} & set(given) else {"care"}

    def may_be_seen(self, uid: str, purpose: str) -> bool:
        return self.governance.get(uid) is None and purpose in self.uses(uid)


def _refused(archive: Archive) -> int:
    with archive.sessions() as s:
        return int(
            s.scalar(select(func.count(AuditEvent.seq)).where(AuditEvent.outcome == "refused")) or 0
        )


def _build(archive: Archive) -> Model:
    """One patient, two studies of two photos each, all taken by photographer "phot"."""
    model = Model(study_of={}, series_of={})
    for _ in range(2):
        study, series = f"2.25.{uuid.uuid4().int}", f"2.25.{uuid.uuid4().int}"
        for n in range(2):
            ds = make_dataset(
                patient_id="P1",
                study_uid=study,
                series_uid=series,
                sop_class=VL_PHOTO,
                modality="XC",
                instance_number=n,
            )
            archive.ingest(encode(ds), origin=Origin(Actor("phot", Role.PHOTOGRAPHER, None)))
            model.study_of[ds.SOPInstanceUID] = study
            model.series_of[ds.SOPInstanceUID] = series
    return model


def _step(archive: Archive, model: Model, step: tuple[str, str, Level, int]) -> None:
    who, what, level, pick = step
    requester = ACTORS[who]
    photos = sorted(model.study_of)
    photo = photos[pick % len(photos)]
    before = _refused(archive)
    try:
        if what in GOVERN:
            uid = {
                Level.STUDY: model.study_of[photo],
                Level.SERIES: model.series_of[photo],
                Level.IMAGE: photo,
            }[level]
            moved = archive.govern(
                level, uid, GOVERN[what], reason="property test", requester=requester
            )
            for changed in moved.changed:
                if model.governance.get(changed) is not Availability.ERASED:
                    model.governance[changed] = None if what == "release" else GOVERN[what]
        else:
            status = {
                "withdraw": ConsentStatus.WITHDRAWN,
                "refuse": ConsentStatus.REFUSED,
            }.get(what, ConsentStatus.GIVEN)
            request = ConsentRequest(
                study_instance_uid=model.study_of[photo],
                status=status,
                recorded_by="Nurse^Ann",
                instances=(photo,) if level is Level.IMAGE else (),
                **CONSENTS[what],  # type: ignore[arg-type]
            )
            recorded = archive.record_consent(
                request,
                requester=requester,
            )
            for covered in recorded.availability:
                chain = model.consents.setdefault(covered, [])
                if status is ConsentStatus.GIVEN and {"withdraw", "refuse"} & set(chain):
                    # A reversal of R5/R6: only by a photographer or governance, and only
                    # with a new written consent and its signed form.
                    assert requester.role in (Role.PHOTOGRAPHER, Role.GOVERNANCE, Role.OPERATOR)
                    assert what in ("record", "teaching"), f"{what} consent undid a withdrawal"
                    event("a withdrawal or refusal reversed")
                chain.append(what)
    except ArchiveError as exc:
        event(f"refused: {what}")
        assert _refused(archive) == before + 1, f"{who} {what}: {exc} left no single refusal"
    else:
        assert _refused(archive) == before, f"{who} {what} succeeded but was audited as refused"


def _check(archive: Archive, model: Model) -> None:
    for purpose, reader in READERS.items():
        seen = {m["SOPInstanceUID"] for m in archive.find(Level.IMAGE, {}, requester=reader)}
        wrongly = {u for u in seen if u in model.study_of and not model.may_be_seen(u, purpose)}
        assert not wrongly, f"visible for {purpose} beyond consent or governance: {wrongly}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_actor_makes_a_recording_visible_beyond_its_consent(backend: str) -> None:
    @property_settings(backend, EXAMPLES)
    @given(st.lists(step_st, min_size=1, max_size=8))
    def run(steps: list[tuple[str, str, Level, int]]) -> None:
        with fresh_archive(backend) as archive:
            model = _build(archive)
            for step in steps:
                _step(archive, model, step)
                _check(archive, model)

    run()
