"""Property: random sequences of consent, withdrawal, refusal and governance
actions never make a recording available for a purpose its consent chain does not
permit (archive.consent.rules.decide and combine, pure: no database)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from archive.consent.rules import (
    ADULT_AGE,
    PURPOSE_SEPARATOR,
    ConsentFacts,
    InstanceFacts,
    Kind,
    capacity_problem,
    combine,
    decide,
)
from archive.models import Availability
from consent_sr import ConsentBasis, Consenter, ConsentForm, ConsentLevel, ConsentStatus

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PURPOSES = ("Publication in the BJD, case 7", "Poster at the BAD meeting 2027")
NO = (ConsentStatus.WITHDRAWN, ConsentStatus.REFUSED)


@st.composite
def documents(draw: st.DrawFn, n: int) -> ConsentFacts:
    status = draw(st.sampled_from(list(ConsentStatus)))
    level = draw(st.sampled_from(list(ConsentLevel)))
    return ConsentFacts(
        document_uid=f"1.{n}",
        status=status,
        decided_at=T0 + dt.timedelta(hours=n),
        sequence=n,
        level=level if status is ConsentStatus.GIVEN else None,
        purpose=draw(st.sampled_from(PURPOSES)) if level is ConsentLevel.SPECIFIED else "",
        also_teaching=draw(st.booleans()),
        consenter=draw(st.sampled_from([None, *Consenter])),
        form=draw(st.sampled_from([None, *ConsentForm])),
        basis=draw(st.sampled_from([None, *ConsentBasis])),
        intimate_justification=draw(st.sampled_from(["", "clinical need"])),
    )


chains = st.integers(0, 7).flatmap(lambda k: st.tuples(*(documents(n) for n in range(k))).map(list))


@settings(max_examples=400, deadline=None)
@given(
    chain=chains,
    age=st.sampled_from([None, 4, 15, 17, 18, 46]),
    intimate=st.booleans(),
    hold=st.sampled_from([None, Availability.HELD, Availability.QUARANTINED]),
    shuffle=st.randoms(use_true_random=False),
)
def test_no_use_the_chain_does_not_permit(
    chain: list[ConsentFacts],
    age: int | None,
    intimate: bool,
    hold: Availability | None,
    shuffle: object,
) -> None:
    facts = InstanceFacts(kind=Kind.RECORDING, intimate=intimate, age_at_acquisition=age)
    shuffled = list(chain)
    shuffle.shuffle(shuffled)  # type: ignore[attr-defined]
    decision = decide(facts, shuffled)
    assert decision == decide(facts, chain)  # the order of arrival does not matter
    standing = combine(decision, hold, "governance", "")
    if hold is not None:  # governance's hold is never lifted by consent
        assert standing.availability is not Availability.ACTIVE
    if decision.availability is not Availability.ACTIVE:
        assert not (decision.care or decision.teaching or decision.specified)
        return
    counted = [c for c in chain if not capacity_problem(c.consenter, age)]
    assert counted, "no document from someone who may decide, yet in use"
    vital = any(
        c.status is ConsentStatus.IMPLICIT and c.basis is ConsentBasis.VITAL_INTERESTS
        for c in counted
    )
    last_no = max((c.sequence for c in counted if c.status in NO), default=-1)
    after = [c for c in counted if c.sequence > last_no]
    given_after = [c for c in after if c.status is ConsentStatus.GIVEN]
    assert vital or any(c.status in (ConsentStatus.GIVEN, ConsentStatus.IMPLICIT) for c in after)
    if decision.teaching:
        assert any(
            c.level is ConsentLevel.TEACHING
            or (c.level is ConsentLevel.SPECIFIED and c.also_teaching)
            for c in given_after
        )
    for purpose in filter(None, decision.specified.split(PURPOSE_SEPARATOR)):
        assert any(c.level is ConsentLevel.SPECIFIED and c.purpose == purpose for c in given_after)
    child = age is not None and age < ADULT_AGE
    if child and (decision.teaching or decision.specified):  # written consent only (R10)
        assert any(c.form is ConsentForm.WRITTEN for c in given_after)
    if intimate:  # R11
        assert any(c.intimate_justification for c in counted)
