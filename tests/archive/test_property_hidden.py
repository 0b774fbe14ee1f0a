"""Property: whatever the archive holds and whatever happened to it, no held,
quarantined or erased instance ever leaves through a query or a retrieve —
not as a match, not in a count, not in ModalitiesInStudy — and governance
review sees exactly the hidden ones."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from sqlalchemy import select

from archive import (
    Actor,
    Archive,
    ArchiveError,
    ArchiveSettings,
    Availability,
    ConsentRequest,
    Level,
    Origin,
    Purpose,
    Role,
)
from archive.models import Instance
from consent_sr import ConsentStatus
from tests.archive.helpers import UNIQUE_KEY, reviewer
from tests.conftest import BACKENDS, PgSchema, property_settings
from tests.factory import VL_ENDOSCOPIC, VL_PHOTO, encode, make_dataset

EPR = Actor(actor="EPR", role=Role.EPR, purpose=Purpose.CARE)
REVIEW = reviewer("IG")
ORIGIN = Origin(Actor("CAM", Role.MODALITY, None))
NAMES = ["Smith^Ann", "Smyth^Bo", "Øster^Cé", "山田^太郎", "Jones^Al"]
EXAMPLES = {"sqlite": 60, "postgresql": 15}


@contextmanager
def fresh_archive(backend: str) -> Iterator[Archive]:
    with tempfile.TemporaryDirectory() as tmp:
        schema = None
        if backend == "sqlite":
            url = f"sqlite:///{tmp}/index.sqlite3"
        else:
            schema = PgSchema()
            url = schema.url
        try:
            s = ArchiveSettings(data_dir=Path(tmp) / "data", database_url=url, min_free_bytes=0)
            arc = Archive(s)
            arc.migrate()
            arc.close()
            with Archive.open(s) as archive:
                yield archive
        finally:
            if schema:
                schema.drop()


instance_st = st.fixed_dictionaries(
    {
        "patient": st.integers(0, 3),
        "study": st.integers(0, 2),
        "series": st.integers(0, 1),
        "photo": st.booleans(),  # VL photographic (needs consent) or endoscopic (implicit)
        "date": st.sampled_from(["20240101", "20250615", "20251231"]),
    }
)
action_st = st.one_of(
    st.tuples(
        st.sampled_from(["quarantine", "hold", "erase", "release"]),
        st.sampled_from(list(Level)),
        st.integers(0, 100),
    ),
    st.tuples(
        st.sampled_from(["consent-1", "consent-2", "withdraw", "pending", "refuse"]),
        st.just(Level.STUDY),
        st.integers(0, 100),
    ),
)
query_st = st.tuples(
    st.sampled_from(list(Level)),
    st.sampled_from(
        [
            {},
            {"PatientName": "sm*"},
            {"PatientName": "*"},
            {"PatientID": "P?"},
            {"StudyDate": "20250101-"},
            {"StudyDate": "-20250101"},
            {"ModalitiesInStudy": "XC"},
            {"ModalitiesInStudy": "ES\\XC"},
            {"Modality": "XC"},
            {"PatientName": "山田*"},
        ]
    ),
)


def _build(archive: Archive, specs: list[dict[str, object]]) -> None:
    uids: dict[tuple[object, ...], str] = {}
    for n, spec in enumerate(specs):
        p, stu, ser = spec["patient"], spec["study"], spec["series"]
        study = uids.setdefault(("study", p, stu), f"2.25.{uuid.uuid4().int}")
        series = uids.setdefault(("series", p, stu, ser), f"2.25.{uuid.uuid4().int}")
        photo = bool(spec["photo"])
        ds = make_dataset(
            patient_id=f"P{p}",
            patient_name=NAMES[int(p)],
            study_uid=study,
            series_uid=series,
            sop_class=VL_PHOTO if photo else VL_ENDOSCOPIC,
            modality="XC" if photo else "ES",
            study_date=str(spec["date"]),
            instance_number=n,
        )
        archive.ingest(encode(ds), origin=ORIGIN)


def _act(archive: Archive, action: tuple[str, Level, int]) -> None:
    what, level, pick = action
    with archive.sessions() as s:
        rows = s.execute(select(Instance.sop_instance_uid)).scalars().all()
    if not rows:
        return
    target = rows[pick % len(rows)]
    found = archive.find(
        Level.IMAGE,
        {"SOPInstanceUID": target, "StudyInstanceUID": "", "SeriesInstanceUID": ""},
        requester=Actor(actor="ig", role=Role.GOVERNANCE, purpose=Purpose.SUBJECT_ACCESS),
    )
    if not found:
        return  # erased: nothing more can happen to it
    m = found[0]
    key = UNIQUE_KEY[level]
    uid = m[key]
    try:
        if what in ("quarantine", "hold", "erase", "release"):
            to = {
                "quarantine": Availability.QUARANTINED,
                "hold": Availability.HELD,
                "erase": Availability.ERASED,
                "release": Availability.ACTIVE,
            }[what]
            archive.set_availability(
                level,
                str(uid),
                to,
                reason="property test",
                requester=Actor.operator("ig"),
                reason_code="governance-review",
            )
        else:
            status, extra = {
                "consent-1": (
                    ConsentStatus.GIVEN,
                    {"level": "record", "consenter": "patient", "form": "written"},
                ),
                "consent-2": (
                    ConsentStatus.GIVEN,
                    {"level": "teaching", "consenter": "patient", "form": "written"},
                ),
                "withdraw": (ConsentStatus.WITHDRAWN, {"consenter": "patient"}),
                "pending": (ConsentStatus.PENDING_RETROSPECTIVE, {}),
                "refuse": (ConsentStatus.REFUSED, {"consenter": "patient"}),
            }[what]
            archive.record_consent(
                ConsentRequest(
                    study_instance_uid=str(m["StudyInstanceUID"]),
                    status=status,
                    recorded_by="Nurse^Ann",
                    **extra,
                ),  # type: ignore[arg-type]
                requester=Actor.operator("test"),
            )
    except ArchiveError:
        pass  # refused transitions (e.g. nothing to withdraw) change nothing


def _check(archive: Archive, queries: list[tuple[Level, dict[str, str]]]) -> None:
    with archive.sessions() as s:
        rows = s.execute(
            select(Instance.sop_instance_uid, Instance.availability, Instance.use_care)
        ).all()
    visible = {u for u, a, care in rows if a is Availability.ACTIVE and care}
    hidden = {u for u, a, _ in rows if a is not Availability.ACTIVE}
    reviewable = {u for u, a, _ in rows if a in (Availability.HELD, Availability.QUARANTINED)}
    # Image level, every query: only visible instances, and all of them when universal.
    everything = {m["SOPInstanceUID"] for m in archive.find(Level.IMAGE, {}, requester=EPR)}
    assert everything == visible
    located = {
        x.sop_instance_uid
        for x in archive.locate(Level.PATIENT, {"PatientID": "P*"}, requester=EPR, destination="X")
    }
    assert located <= visible and not located & hidden
    review = {m["SOPInstanceUID"] for m in archive.find(Level.IMAGE, {}, requester=REVIEW)}
    assert review == reviewable
    for level, identifier in queries:
        keys = {
            k: v
            for k, v in identifier.items()
            if not (level < Level.STUDY and k in ("StudyDate", "ModalitiesInStudy"))
            and not (level < Level.SERIES and k == "Modality")
        }
        wanted = dict(keys)
        if level is Level.PATIENT:
            wanted |= {"NumberOfPatientRelatedInstances": ""}
        if level is Level.STUDY:
            wanted |= {"NumberOfStudyRelatedInstances": "", "ModalitiesInStudy": ""}
        if level is Level.SERIES:
            wanted |= {"NumberOfSeriesRelatedInstances": ""}
        for m in archive.find(level, wanted, requester=EPR):
            sub = {
                k: v
                for k, v in m.items()
                if k in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
            }
            under = {x["SOPInstanceUID"] for x in archive.find(Level.IMAGE, sub, requester=EPR)}
            assert under and under <= visible
            count = m.get(
                "NumberOfPatientRelatedInstances",
                m.get("NumberOfStudyRelatedInstances", m.get("NumberOfSeriesRelatedInstances")),
            )
            if count is not None:
                assert count == len(under)
            if "SOPInstanceUID" in m:
                assert m["SOPInstanceUID"] in visible


@pytest.mark.parametrize("backend", BACKENDS)
def test_hidden_instances_never_leave(backend: str) -> None:
    @property_settings(backend, EXAMPLES)
    @given(
        st.lists(instance_st, min_size=1, max_size=10),
        st.lists(action_st, max_size=6),
        st.lists(query_st, min_size=1, max_size=4),
    )
    def run(
        specs: list[dict[str, object]],
        actions: list[tuple[str, Level, int]],
        queries: list[tuple[Level, dict[str, str]]],
    ) -> None:
        with fresh_archive(backend) as archive:
            _build(archive, specs)
            for action in actions:
                _act(archive, action)
            _check(archive, queries)
            with archive.sessions() as s:
                states = set(s.scalars(select(Instance.availability)))
            event(f"states: {'+'.join(sorted(states))}")

    run()
