"""The one query function: PS3.4 C.2.2.2 matching at every level, computed
counts, and what availability hides — on SQLite and PostgreSQL alike."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from archive import Actor, Archive, Availability, InvalidQuery, Level, Origin, Purpose, Role
from tests.archive.helpers import REVIEW, UNIQUE_KEY
from tests.factory import SECONDARY_CAPTURE, encode, make_dataset

IG = Actor.operator("ig")

OP = Actor(actor="test", role=Role.OPERATOR, purpose=Purpose.CARE)
ORIGIN = Origin(Actor.operator("test"))


@dataclass
class World:
    archive: Archive
    uids: dict[str, str]


@pytest.fixture
def world(archive: Archive) -> World:
    """Four patients (names in three character sets), five studies, mixed modalities."""
    uids: dict[str, str] = {}

    def add(tag: str, **kw: object) -> None:
        ds = make_dataset(**kw)  # type: ignore[arg-type]
        archive.ingest(encode(ds), origin=ORIGIN)
        uids[tag] = ds.SOPInstanceUID
        uids[tag + ".study"] = ds.StudyInstanceUID
        uids[tag + ".series"] = ds.SeriesInstanceUID

    add(
        "m1",
        patient_id="MUL1",
        patient_name="Müller^Renée",
        charset="ISO_IR 100",
        study_date="20250110",
        study_time="0930",
        accession="A_1",
        birth_date="19800101",
    )
    add(
        "m2",
        patient_id="MUL1",
        patient_name="Müller^Renée",
        charset="ISO_IR 100",
        study_uid=uids["m1.study"],
        series_uid=uids["m1.series"],
        instance_number=2,
        birth_date="19800101",
    )
    add(
        "m3",
        patient_id="MUL1",
        patient_name="Müller^Renée",
        charset="ISO_IR 100",
        study_uid=uids["m1.study"],
        birth_date="19800101",
        modality="US",
        sop_class=SECONDARY_CAPTURE,
        series_number=2,
    )
    add(
        "u1",
        patient_id="MUL2",
        patient_name="Muller^Rene",
        study_date="20250615",
        study_time="143000.25",
        accession="AB1",
        birth_date="19900505",
    )
    add(
        "y1",
        patient_id="JP1",
        patient_name="Yamada^Tarou=山田^太郎=やまだ^たろう",
        charset=["", "ISO 2022 IR 87"],
        study_date="20251231",
        study_time="235959",
        accession="J1",
        referring="Suzuki^Ichiro",
    )
    add(
        "x1",
        patient_id="X%_1",
        patient_name="O'Brien^Seán",
        study_date="20240229",
        study_time="000000",
        accession="Z",
    )
    return World(archive, uids)


def ids(world: World, level: Level, **identifier: str) -> list[str]:
    key = UNIQUE_KEY[level]
    found = world.archive.find(level, identifier, requester=OP)
    return sorted(str(m[key]) for m in found)


def pids(world: World, **identifier: str) -> list[str]:
    return ids(world, Level.PATIENT, **identifier)


# --- matching rules -----------------------------------------------------------
def test_universal_matching_returns_everyone(world: World) -> None:
    assert pids(world, PatientID="") == ["JP1", "MUL1", "MUL2", "X%_1"]
    assert pids(world, PatientName="*") == ["JP1", "MUL1", "MUL2", "X%_1"]


def test_single_value_matching_is_exact_and_case_sensitive(world: World) -> None:
    assert pids(world, PatientID="MUL1") == ["MUL1"]
    assert pids(world, PatientID="mul1") == []
    assert pids(world, PatientID="MUL") == []


def test_wildcards_star_and_question_mark(world: World) -> None:
    assert pids(world, PatientID="MUL*") == ["MUL1", "MUL2"]
    assert pids(world, PatientID="MUL?") == ["MUL1", "MUL2"]
    assert pids(world, PatientID="?UL2") == ["MUL2"]
    assert pids(world, PatientID="M*2") == ["MUL2"]


def test_sql_wildcard_characters_are_literal(world: World) -> None:
    assert pids(world, PatientID="X%_1") == ["X%_1"]
    assert pids(world, PatientID="X%*") == ["X%_1"]
    assert pids(world, PatientID="%") == []
    assert ids(world, Level.STUDY, AccessionNumber="A_1") == [world.uids["m1.study"]]
    assert ids(world, Level.STUDY, AccessionNumber="A_*") == [world.uids["m1.study"]]


def test_injection_attempts_are_just_values(world: World) -> None:
    assert pids(world, PatientID="' OR '1'='1") == []
    assert pids(world, PatientName="x'; DROP TABLE patients; --") == []
    assert pids(world, PatientID="") == ["JP1", "MUL1", "MUL2", "X%_1"]


def test_person_names_are_case_insensitive_and_keep_accents(world: World) -> None:
    assert pids(world, PatientName="müller^renée") == ["MUL1"]
    assert pids(world, PatientName="MÜLLER*") == ["MUL1"]
    assert pids(world, PatientName="muller*") == ["MUL2"]
    assert pids(world, PatientName="M?ller*") == ["MUL1", "MUL2"]
    assert pids(world, PatientName="o'brien^seán") == ["X%_1"]


def test_person_name_groups_in_iso_2022(world: World) -> None:
    assert pids(world, PatientName="山田*") == ["JP1"]
    assert pids(world, PatientName="やまだ^たろう") == ["JP1"]
    assert pids(world, PatientName="yamada*") == ["JP1"]
    assert pids(world, PatientName="*=山田^太郎") == ["JP1"]
    assert pids(world, PatientName="Yamada^Tarou=鈴木*") == []
    [match] = world.archive.find(
        Level.PATIENT, {"PatientID": "JP1", "PatientName": ""}, requester=OP
    )
    assert match["PatientName"] == "Yamada^Tarou=山田^太郎=やまだ^たろう"


def test_referring_physician_is_a_person_name(world: World) -> None:
    assert ids(world, Level.STUDY, ReferringPhysicianName="SUZUKI*") == [world.uids["y1.study"]]


def test_date_single_and_ranges(world: World) -> None:
    st = Level.STUDY
    u = world.uids
    assert ids(world, st, StudyDate="20250110") == [u["m1.study"]]
    assert ids(world, st, StudyDate="20250101-20250701") == sorted([u["m1.study"], u["u1.study"]])
    assert ids(world, st, StudyDate="20250615-") == sorted([u["u1.study"], u["y1.study"]])
    assert ids(world, st, StudyDate="-20250110") == sorted([u["m1.study"], u["x1.study"]])
    assert ids(world, st, StudyDate="20260101-") == []
    assert pids(world, PatientBirthDate="19850101-19951231") == ["MUL2"]


def test_time_single_and_ranges(world: World) -> None:
    st = Level.STUDY
    u = world.uids
    assert ids(world, st, StudyTime="093000") == [u["m1.study"]]  # stored as "0930"
    assert ids(world, st, StudyTime="1400-1500") == [u["u1.study"]]
    assert ids(world, st, StudyTime="23-") == [u["y1.study"]]
    assert ids(world, st, StudyTime="-00") == [u["x1.study"]]  # the whole first hour
    assert ids(world, st, StudyTime="-0930") == sorted([u["m1.study"], u["x1.study"]])


def test_uid_lists(world: World) -> None:
    u = world.uids
    both = f"{u['m1.study']}\\{u['y1.study']}"
    assert ids(world, Level.STUDY, StudyInstanceUID=both) == sorted([u["m1.study"], u["y1.study"]])
    assert ids(world, Level.IMAGE, SOPInstanceUID=u["m2"]) == [u["m2"]]


def test_lower_level_query_with_upper_level_keys(world: World) -> None:
    u = world.uids
    assert ids(world, Level.IMAGE, PatientID="MUL1") == sorted([u["m1"], u["m2"], u["m3"]])
    assert ids(world, Level.SERIES, PatientID="MUL1", Modality="US") == [u["m3.series"]]
    assert ids(world, Level.IMAGE, StudyInstanceUID=u["m1.study"], InstanceNumber="2") == [u["m2"]]


def test_modalities_in_study_matches_any_and_is_returned(world: World) -> None:
    u = world.uids
    assert ids(world, Level.STUDY, ModalitiesInStudy="US") == [u["m1.study"]]
    assert ids(world, Level.STUDY, ModalitiesInStudy="US\\ES") == sorted(
        [u["m1.study"], u["u1.study"], u["x1.study"], u["y1.study"]]
    )
    [m] = world.archive.find(
        Level.STUDY, {"StudyInstanceUID": u["m1.study"], "ModalitiesInStudy": ""}, requester=OP
    )
    assert m["ModalitiesInStudy"] == ["ES", "US"]


def test_counts_at_every_level(world: World) -> None:
    a, u = world.archive, world.uids
    [p] = a.find(
        Level.PATIENT,
        {
            "PatientID": "MUL1",
            "NumberOfPatientRelatedStudies": "",
            "NumberOfPatientRelatedSeries": "",
            "NumberOfPatientRelatedInstances": "",
        },
        requester=OP,
    )
    assert (
        p["NumberOfPatientRelatedStudies"],
        p["NumberOfPatientRelatedSeries"],
        p["NumberOfPatientRelatedInstances"],
    ) == (1, 2, 3)
    [s] = a.find(
        Level.STUDY,
        {
            "StudyInstanceUID": u["m1.study"],
            "NumberOfStudyRelatedSeries": "",
            "NumberOfStudyRelatedInstances": "",
        },
        requester=OP,
    )
    assert (s["NumberOfStudyRelatedSeries"], s["NumberOfStudyRelatedInstances"]) == (2, 3)
    [se] = a.find(
        Level.SERIES,
        {"SeriesInstanceUID": u["m1.series"], "NumberOfSeriesRelatedInstances": ""},
        requester=OP,
    )
    assert se["NumberOfSeriesRelatedInstances"] == 2


def test_returned_keys_include_unique_keys_of_upper_levels(world: World) -> None:
    [m] = world.archive.find(
        Level.IMAGE,
        {"SOPInstanceUID": world.uids["m3"], "SOPClassUID": "", "Modality": ""},
        requester=OP,
    )
    assert m == {
        "PatientID": "MUL1",
        "StudyInstanceUID": world.uids["m1.study"],
        "SeriesInstanceUID": world.uids["m3.series"],
        "SOPInstanceUID": world.uids["m3"],
        "SOPClassUID": SECONDARY_CAPTURE,
        "Modality": "US",
    }


@pytest.mark.parametrize(
    "level,identifier,message",
    [
        (Level.PATIENT, {"StudyDate": ""}, "below"),
        (Level.STUDY, {"NoSuchKey": ""}, "not a key"),
        (Level.STUDY, {"StudyDate": "2025"}, "not a date"),
        (Level.STUDY, {"StudyDate": "-"}, "at least one bound"),
        (Level.STUDY, {"StudyTime": "25xx"}, "not a time"),
        (Level.STUDY, {"StudyInstanceUID": "1.2.*"}, "not a UID"),
        (Level.IMAGE, {"InstanceNumber": "two"}, "not a number"),
    ],
)
def test_malformed_queries_are_clear_errors(
    world: World, level: Level, identifier: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidQuery, match=message):
        world.archive.find(level, identifier, requester=OP)


# --- availability hides, at every level, counts included -----------------------
@pytest.mark.parametrize(
    "target", [Availability.QUARANTINED, Availability.HELD, Availability.ERASED]
)
def test_hidden_instances_never_appear(world: World, target: Availability) -> None:
    a, u = world.archive, world.uids
    a.set_availability(Level.IMAGE, u["m3"], target, reason="governance review", requester=IG)
    assert u["m3"] not in ids(world, Level.IMAGE, PatientID="")
    assert u["m3.series"] not in ids(world, Level.SERIES, PatientID="MUL1")
    assert ids(world, Level.STUDY, ModalitiesInStudy="US") == []
    [p] = a.find(
        Level.PATIENT,
        {
            "PatientID": "MUL1",
            "NumberOfPatientRelatedSeries": "",
            "NumberOfPatientRelatedInstances": "",
        },
        requester=OP,
    )
    assert (p["NumberOfPatientRelatedSeries"], p["NumberOfPatientRelatedInstances"]) == (1, 2)
    [s] = a.find(
        Level.STUDY,
        {
            "StudyInstanceUID": u["m1.study"],
            "ModalitiesInStudy": "",
            "NumberOfStudyRelatedInstances": "",
        },
        requester=OP,
    )
    assert (s["ModalitiesInStudy"], s["NumberOfStudyRelatedInstances"]) == (["ES"], 2)
    review = {m["SOPInstanceUID"] for m in a.find(Level.IMAGE, {}, requester=REVIEW)}
    assert review == (set() if target is Availability.ERASED else {u["m3"]})


def test_a_patient_with_nothing_visible_disappears(world: World) -> None:
    a = world.archive
    a.set_availability(
        Level.PATIENT, "MUL1", Availability.QUARANTINED, reason="consent withdrawn", requester=IG
    )
    assert pids(world, PatientID="") == ["JP1", "MUL2", "X%_1"]
    assert pids(world, PatientName="MÜLLER*") == []
    assert ids(world, Level.STUDY, PatientID="MUL1") == []
    a.set_availability(Level.PATIENT, "MUL1", Availability.ACTIVE, reason="released", requester=IG)
    assert pids(world, PatientID="MUL1") == ["MUL1"]


def test_review_requires_the_governance_purpose_and_a_reason(world: World) -> None:
    a, u = world.archive, world.uids
    a.set_availability(Level.IMAGE, u["m1"], Availability.QUARANTINED, reason="x", requester=IG)
    sneaky = Actor(
        actor="c", role=Role.CLINICIAN, purpose=Purpose.CARE, review=True, review_reason="x" * 20
    )
    assert a.find(Level.IMAGE, {}, requester=sneaky) == []
    unstated = Actor(actor="ig", role=Role.GOVERNANCE, purpose=Purpose.GOVERNANCE, review=True)
    assert a.find(Level.IMAGE, {}, requester=unstated) == []  # no look without a reason
    stated = Actor(
        actor="ig",
        role=Role.GOVERNANCE,
        purpose=Purpose.GOVERNANCE,
        review=True,
        review_reason="IG-7: incident review",
    )
    assert [m["SOPInstanceUID"] for m in a.find(Level.IMAGE, {}, requester=stated)] == [u["m1"]]
    nobody = Actor(actor="adm", role=Role.ADMIN, purpose=Purpose.CARE)
    assert a.find(Level.PATIENT, {}, requester=nobody) == []


def test_every_query_is_audited_per_patient(world: World) -> None:
    from tests.archive.helpers import audit_rows

    world.archive.find(Level.STUDY, {"PatientID": "MUL*"}, requester=OP)
    rows = [r for r in audit_rows(world.archive) if r.action == "query"]
    assert sorted(r.patient_id for r in rows[-2:]) == ["MUL1", "MUL2"]
    assert all(r.actor == "test" and r.purpose == "care" for r in rows[-2:])
