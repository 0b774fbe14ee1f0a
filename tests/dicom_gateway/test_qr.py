"""C-FIND, C-MOVE and C-GET through the archive's one query function: every
level, both information models, character sets, and only ``active`` instances
ever found, counted, moved or got (PS3.4 C.4)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pynetdicom import build_role, evt
from sqlalchemy import select

from archive.models import AuditEvent
from dicom_gateway.sop import (
    PATIENT_ROOT_FIND,
    PATIENT_ROOT_GET,
    PATIENT_ROOT_MOVE,
    STORAGE,
    STUDY_ROOT_FIND,
    STUDY_ROOT_GET,
    STUDY_ROOT_MOVE,
    UNCOMPRESSED,
)
from tests.dicom_gateway.conftest import EPR, PEER, Running, World, _query, associate

QR = [
    (uid, UNCOMPRESSED)
    for uid in (
        PATIENT_ROOT_FIND,
        STUDY_ROOT_FIND,
        PATIENT_ROOT_MOVE,
        STUDY_ROOT_MOVE,
    )
]


def find(
    gw: Running, query: Dataset, model: str = STUDY_ROOT_FIND
) -> tuple[list[Dataset], list[int], Dataset]:
    """Matches, the pending statuses, and the final status."""
    with associate(gw.port, EPR, QR) as assoc:
        matches, pendings = [], []
        final = Dataset()
        for status, identifier in assoc.send_c_find(query, model):
            if status.Status in (0xFF00, 0xFF01):
                matches.append(identifier)
                pendings.append(int(status.Status))
            else:
                final = status
    return matches, pendings, final


def test_patient_level_wildcard_with_counts_excluding_hidden(
    gateway: Running, world: World
) -> None:
    q = _query(
        "PATIENT", PatientName="müll*", PatientID="", NumberOfPatientRelatedStudies="",
        NumberOfPatientRelatedInstances="",
    )  # fmt: skip
    matches, _, final = find(gateway, q, PATIENT_ROOT_FIND)
    assert final.Status == 0x0000
    assert len(matches) == 1
    (m,) = matches
    assert m.SpecificCharacterSet == "ISO_IR 192"
    assert str(m.PatientName) == "Müller^Jürgen"
    assert m.PatientID == "QR1"
    assert m.NumberOfPatientRelatedStudies == 2
    assert m.NumberOfPatientRelatedInstances == 3  # the held one is not counted


def test_quarantined_and_held_are_invisible_at_every_level(gateway: Running, world: World) -> None:
    for level, model in (
        ("PATIENT", PATIENT_ROOT_FIND),
        ("STUDY", STUDY_ROOT_FIND),
        ("SERIES", STUDY_ROOT_FIND),
        ("IMAGE", STUDY_ROOT_FIND),
    ):
        matches, _, _ = find(gateway, _query(level, PatientID="QR4"), model)
        assert matches == [], level
        held, _, _ = find(
            gateway,
            _query(level, PatientID="QR1", SOPInstanceUID=world.held)
            if level == "IMAGE"
            else _query(level, PatientID="QR1"),
            model,
        )
        if level == "IMAGE":
            assert held == []
    matches, _, _ = find(gateway, _query("IMAGE", StudyInstanceUID=world.study1, SOPInstanceUID=""))
    assert sorted(m.SOPInstanceUID for m in matches) == sorted(world.active1)
    series, _, _ = find(
        gateway,
        _query("SERIES", StudyInstanceUID=world.study1, SeriesInstanceUID="",
               NumberOfSeriesRelatedInstances=""),
    )  # fmt: skip
    assert [s.NumberOfSeriesRelatedInstances for s in series] == [2]


def test_study_level_date_range_and_counts(gateway: Running, world: World) -> None:
    q = _query(
        "STUDY", StudyDate="20250101-20250131", StudyInstanceUID="", PatientName="",
        NumberOfStudyRelatedInstances="", ModalitiesInStudy="",
    )  # fmt: skip
    matches, _, final = find(gateway, q)
    assert final.Status == 0x0000
    assert [m.StudyInstanceUID for m in matches] == [world.study1]
    assert matches[0].NumberOfStudyRelatedInstances == 2
    assert matches[0].ModalitiesInStudy == "ES"
    assert matches[0].RetrieveAETitle == "PHOTOPACS"


def test_non_ascii_query_in_latin1_and_ideographic_answer(gateway: Running, world: World) -> None:
    q = _query("PATIENT", "ISO_IR 100", PatientName="MÜLLER*", PatientID="")
    matches, _, _ = find(gateway, q, PATIENT_ROOT_FIND)
    assert [m.PatientID for m in matches] == ["QR1"]
    q = _query("PATIENT", "ISO_IR 192", PatientName="山田*", PatientID="")
    matches, _, _ = find(gateway, q, PATIENT_ROOT_FIND)
    assert [str(m.PatientName) for m in matches] == ["山田^太郎=やまだ^たろう"]


def test_unsupported_keys_come_back_empty_with_warning_status(
    gateway: Running, world: World
) -> None:
    q = _query("STUDY", PatientID="QR2", StudyInstanceUID="", InstitutionName="X*",
               OtherPatientIDsSequence=[])  # fmt: skip
    matches, pendings, _ = find(gateway, q)
    assert len(matches) == 1
    assert pendings == [0xFF01]
    assert matches[0].InstitutionName in ("", None)
    assert "OtherPatientIDsSequence" in matches[0]


def test_bad_identifiers_get_a900(gateway: Running, world: World) -> None:
    _, _, final = find(gateway, _query("PATIENT", PatientID="QR1"), STUDY_ROOT_FIND)
    assert final.Status == 0xA900
    _, _, final = find(gateway, _query("STUDY", StudyDate="2025-01-01x"))
    assert final.Status == 0xA900
    _, _, final = find(gateway, _query("WHATEVER"))
    assert final.Status == 0xA900


def test_move_sends_only_active_instances_with_correct_counts(
    gateway: Running, world: World
) -> None:
    q = _query("STUDY", StudyInstanceUID=world.study1)
    with associate(gateway.port, EPR, QR) as assoc:
        responses = list(assoc.send_c_move(q, PEER, STUDY_ROOT_MOVE))
    final = responses[-1][0]
    assert final.Status == 0x0000
    assert final.NumberOfCompletedSuboperations == 2
    assert final.NumberOfFailedSuboperations == 0
    pend = [r[0] for r in responses[:-1]]
    assert [p.NumberOfRemainingSuboperations for p in pend] == [1, 0]
    assert sorted(ds.SOPInstanceUID for ds in gateway.received) == sorted(world.active1)
    # the hidden patient: nothing at all
    with associate(gateway.port, EPR, QR) as assoc:
        responses = list(
            assoc.send_c_move(_query("PATIENT", PatientID="QR4"), PEER, PATIENT_ROOT_MOVE)
        )
    assert responses[-1][0].Status == 0x0000
    assert responses[-1][0].NumberOfCompletedSuboperations == 0
    assert len(gateway.received) == 2
    with gateway.archive.sessions() as s:
        outcomes = [
            json.loads(e.detail)
            for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "retrieve"))
        ]
    assert any(d.get("service") == "move" and d.get("completed") == 2 for d in outcomes)


def test_move_to_unknown_destination_is_a801_and_audited(gateway: Running, world: World) -> None:
    q = _query("STUDY", StudyInstanceUID=world.study1)
    with associate(gateway.port, EPR, QR) as assoc:
        responses = list(assoc.send_c_move(q, "NOBODY", STUDY_ROOT_MOVE))
    assert responses[-1][0].Status == 0xA801
    assert gateway.received == []
    with gateway.archive.sessions() as s:
        refused = list(
            s.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "retrieve", AuditEvent.outcome == "refused"
                )
            )
        )
    assert refused and "NOBODY" in refused[-1].detail


@pytest.fixture
def get_assoc(gateway: Running) -> Iterator[tuple[Any, list[Dataset]]]:
    received: list[Dataset] = []

    def on_store(event: Any) -> int:
        received.append(event.dataset)
        return 0

    contexts = [(PATIENT_ROOT_GET, UNCOMPRESSED), (STUDY_ROOT_GET, UNCOMPRESSED)]
    contexts += [(uid, UNCOMPRESSED) for uid in list(STORAGE)[:20]]
    roles = [build_role(uid, scp_role=True) for uid in list(STORAGE)[:20]]
    with associate(
        gateway.port, EPR, contexts, ext_neg=roles, handlers=[(evt.EVT_C_STORE, on_store)]
    ) as assoc:
        yield assoc, received


def test_get_returns_only_active_instances(
    get_assoc: tuple[Any, list[Dataset]], world: World
) -> None:
    assoc, received = get_assoc
    responses = list(
        assoc.send_c_get(
            _query("SERIES", StudyInstanceUID=world.study1, SeriesInstanceUID=world.series1),
            STUDY_ROOT_GET,
        )
    )
    final = responses[-1][0]
    assert final.Status == 0x0000
    assert final.NumberOfCompletedSuboperations == 2
    assert sorted(ds.SOPInstanceUID for ds in received) == sorted(world.active1)
    responses = list(
        assoc.send_c_get(
            _query("IMAGE", PatientID="QR1", SOPInstanceUID=world.held), PATIENT_ROOT_GET
        )
    )
    assert responses[-1][0].NumberOfCompletedSuboperations == 0
    assert len(received) == 2


def test_every_dimse_handler_answers_hidden_and_absent_alike_and_audits_each(
    gateway: Running, world: World
) -> None:
    """C-FIND, C-MOVE and C-GET for a patient whose recordings are all hidden answer
    exactly as for a patient the archive does not hold, and each request leaves one
    audit event of its look (the access policy decides on every DIMSE path)."""

    def events() -> int:
        with gateway.archive.sessions() as s:
            return len(
                s.scalars(
                    select(AuditEvent).where(AuditEvent.action.in_(("query", "retrieve")))
                ).all()
            )

    contexts = [*QR, (PATIENT_ROOT_GET, UNCOMPRESSED)]

    def answers(patient: str) -> list[tuple[int, int, int, int]]:
        q = _query("PATIENT", PatientID=patient)
        out = []
        with associate(gateway.port, EPR, contexts) as assoc:
            for request in (
                lambda: assoc.send_c_find(q, PATIENT_ROOT_FIND),
                lambda: assoc.send_c_move(q, PEER, PATIENT_ROOT_MOVE),
                lambda: assoc.send_c_get(q, PATIENT_ROOT_GET),
            ):
                before = events()
                responses = list(request())
                final = responses[-1][0]
                audited = events() - before
                assert audited >= 1, patient  # the look itself is on the record
                out.append(
                    (
                        len(responses),
                        int(final.Status),
                        int(final.get("NumberOfCompletedSuboperations", 0) or 0),
                        audited,
                    )
                )
        return out

    assert answers(world.hidden_patient) == answers("NOBODY-AT-ALL")
