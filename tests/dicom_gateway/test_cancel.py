"""C-CANCEL is honoured (PS3.4 C.4.3.3.1): a cancelled C-GET stops its
sub-operations and reports what was completed and what remains.

A C-GET waits for each sub-operation's answer, so the cancel lands at a
known point. A C-FIND does not: on an idle machine the gateway can send
every match before the cancel is read, so a C-FIND cancel test races and
is not kept here (the handler checks for the cancel before each match)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import build_role, evt

from dicom_gateway.sop import STORAGE, STUDY_ROOT_GET, UNCOMPRESSED
from tests.dicom_gateway.conftest import EPR, Running, _query, associate, seed
from tests.factory import make_dataset

CANCEL = 0xFE00


def _series(gateway: Running, count: int) -> tuple[str, str]:
    """``count`` instances of one series (seeded by 8 threads: group commits)."""
    study, series = generate_uid(), generate_uid()
    objects = [
        make_dataset(
            patient_id="CANCEL1",
            study_uid=study,
            series_uid=series,
            instance_number=i + 1,
            pixel_bytes=16,
        )
        for i in range(count)
    ]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda ds: seed(gateway.archive, ds), objects))
    return study, series


def test_a_cancelled_get_stops_its_sub_operations(gateway: Running) -> None:
    count = 12
    study, series = _series(gateway, count)
    received: list[Dataset] = []
    holder: dict[str, Any] = {}

    def on_store(event: Any) -> int:
        received.append(event.dataset)
        if len(received) == 1:  # cancel while the first sub-operation is being answered
            holder["assoc"].send_c_cancel(9, query_model=STUDY_ROOT_GET)
        return 0x0000

    contexts = [(STUDY_ROOT_GET, UNCOMPRESSED)]
    contexts += [(uid, UNCOMPRESSED) for uid in list(STORAGE)[:20]]
    roles = [build_role(uid, scp_role=True) for uid in list(STORAGE)[:20]]
    with associate(
        gateway.port, EPR, contexts, ext_neg=roles, handlers=[(evt.EVT_C_STORE, on_store)]
    ) as assoc:
        holder["assoc"] = assoc
        responses = [
            s
            for s, _ in assoc.send_c_get(
                _query("SERIES", StudyInstanceUID=study, SeriesInstanceUID=series),
                STUDY_ROOT_GET,
                msg_id=9,
            )
            if s
        ]
    final = responses[-1]
    assert final.Status == CANCEL
    assert final.NumberOfCompletedSuboperations == len(received)
    assert len(received) < count
    assert final.NumberOfRemainingSuboperations == count - len(received)
