"""Storage commitment as the sender (PS3.4 J.3.3.1.3): `photopacs send --commit`
records the transaction, and the peer's report on a NEW association lands in
the index, received by `photopacs serve` when it runs and by `send` itself
(listening on the archive's DICOM port) when it does not. Reports from another
node, for unknown transactions, or malformed, are refused with a DIMSE failure
and audited; a report that never comes is a timeout, said so."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import build_role
from sqlalchemy import select

from archive import Actor, Archive, ArchiveSettings
from archive.models import AuditEvent
from dicom_gateway import Gateway, GatewaySettings
from dicom_gateway.commitment_index import IndexedCommitment
from dicom_gateway.scu import Destination, Sender, inspect
from dicom_gateway.sop import COMMITMENT, COMMITMENT_INSTANCE, UNCOMPRESSED
from photopacs.cli import main
from tests.dicom_gateway.commitment_scp import commitment_scp
from tests.dicom_gateway.conftest import AET, CAMERA, EPR, PEER, Running, associate, serve
from tests.factory import make_dataset
from tests.serving import free_port, photopacs_bin
from tests.support import REPO

OPERATOR = Actor.operator("test")
HOST = "127.0.0.1"

PACS = "PACS1"  # the peer PACS the tests send to


def _files(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        ds = make_dataset(patient_id="SCOMMIT", instance_number=i + 1)
        paths.append(folder / f"{ds.SOPInstanceUID}.dcm")
        ds.save_as(paths[-1], enforce_file_format=True)
    return paths


def _env(settings: ArchiveSettings, dicom_port: int) -> dict[str, str]:
    return {
        **os.environ,
        "PHOTOPACS_DATA_DIR": str(settings.data_dir),
        "PHOTOPACS_DATABASE_URL": settings.resolved_database_url(),
        "PHOTOPACS_DICOM_PORT": str(dicom_port),
    }


def _send(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [photopacs_bin(), "send", *args],
        capture_output=True, text=True, timeout=120, cwd=REPO, check=False, env=env,
    )  # fmt: skip


def _cli(env: dict[str, str], *args: str) -> str:
    """A listing command, in process (its output)."""
    result = CliRunner(env=env).invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def _cli_json(env: dict[str, str], *args: str) -> Any:
    return json.loads(_cli(env, *args, "--json"))


def _audit(archive: Archive, actor: str) -> list[tuple[str, dict[str, Any]]]:
    with archive.sessions() as s:
        rows = s.scalars(
            select(AuditEvent).where(AuditEvent.actor == actor).order_by(AuditEvent.seq)
        )
        return [(e.outcome, json.loads(e.detail)) for e in rows]


def test_serve_receives_the_report_on_a_new_association(
    archive: Archive, settings: ArchiveSettings, tmp_path: Path
) -> None:
    scp_port = free_port()
    archive.add_node(PACS, host="127.0.0.1", port=scp_port, role="peer", requester=OPERATOR)
    files = _files(tmp_path / "out", 3)
    with serve(settings, tmp_path) as server:
        env = _env(settings, server.dicom_port)  # the port is serve's: send does not listen
        with commitment_scp(scp_port, PACS, report_port=server.dicom_port) as scp:
            proc = _send(env, *map(str, files), "--to", PACS, "--commit",
                         "--commit-timeout", "30")  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "sent 3, failed 0, refused 0" in proc.stdout
        assert "committed 3, not committed 0" in proc.stdout
        [answer] = scp.answers
        assert answer.Status == 0x0000
        [row] = _cli_json(env, "commitment", "sent", "--all")
    assert row["status"] == "committed" and row["via"] == "new association"
    assert row["destination"] == PACS and row["reported_by"] == PACS
    assert {i["sop_instance_uid"] for i in row["instances"]} == {p.stem for p in files}
    assert {i["result"] for i in row["instances"]} == {"committed"}
    # serve took it: the reporting association was accepted by serve's process
    accepted = [d for o, d in _audit(archive, PACS) if "called" in d and o == "success"]
    assert [d["process"] for d in accepted] == [server.proc.pid]
    reports = [d for _, d in _audit(archive, PACS) if d.get("event") == "report"]
    assert [(d["status"], d["via"]) for d in reports] == [("committed", "new association")]


@pytest.mark.parametrize("lose", [0, 1], ids=["all-committed", "one-lost"])
def test_send_listens_for_the_report_when_no_serve_runs(
    archive: Archive, settings: ArchiveSettings, tmp_path: Path, lose: int
) -> None:
    scp_port, our_port = free_port(), free_port()
    archive.add_node(PACS, host="127.0.0.1", port=scp_port, role="peer", requester=OPERATOR)
    files = _files(tmp_path / "out", 3)
    lost = {p.stem for p in files[:lose]}
    env = _env(settings, our_port)
    with commitment_scp(scp_port, PACS, report_port=our_port, lose=lost) as scp:
        proc = _send(env, *map(str, files), "--to", PACS, "--commit", "--commit-timeout", "30")
    assert [a.Status for a in scp.answers] == [0x0000]
    [row] = _cli_json(env, "commitment", "sent", "--all")
    assert row["via"] == "new association" and row["reported_by"] == PACS
    if not lose:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "committed 3, not committed 0" in proc.stdout
        assert row["status"] == "committed"
    else:
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "committed 2, not committed 1" in proc.stdout
        assert f"not committed {files[0].stem}: failure reason 0x0112" in proc.stdout
        assert row["status"] == "partly-failed"
        [failed] = [i for i in row["instances"] if i["result"] == "failed"]
        assert (failed["sop_instance_uid"], failed["failure_reason"]) == (files[0].stem, 0x0112)
        shown = _cli(env, "commitment", "sent")
        assert "partly-failed" in shown and f"{files[0].stem} 0x0112" in shown
    # the association came to send's own listener, which has let go of the port
    assert [o for o, d in _audit(archive, PACS) if "called" in d] == ["success"]
    with socket.socket() as s:  # as serve binds it (SO_REUSEADDR: TIME_WAIT is no obstacle)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", our_port))
        s.listen()


def test_no_report_is_a_timeout_and_a_late_report_still_lands(
    archive: Archive, settings: ArchiveSettings, tmp_path: Path
) -> None:
    scp_port, our_port = free_port(), free_port()
    archive.add_node(PACS, host="127.0.0.1", port=scp_port, role="peer", requester=OPERATOR)
    files = _files(tmp_path / "out", 2)
    env = _env(settings, our_port)
    with commitment_scp(scp_port, PACS, report_port=our_port, report=False) as scp:
        proc = _send(env, *map(str, files), "--to", PACS, "--commit", "--commit-timeout", "1.5")
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "sent 2, failed 0" in proc.stdout
        assert "committed 0, not committed 2" in proc.stdout
        assert "no storage commitment report arrived in time" in proc.stderr
        assert f"127.0.0.1:{our_port}" in proc.stderr  # where it listened
        [row] = archive.commitment_requests.listing()
        assert row.status == "timed-out" and "no report within 1.5 s" in row.detail

        # The peer reports after all, to photopacs serve's gateway on that port.
        gateway = Gateway(GatewaySettings(), archive, aet=AET)
        gateway.start("127.0.0.1", our_port)
        try:
            [request] = scp.requests
            event_type, info = scp.event_information(request)
            assert scp.send_report(info, event_type).Status == 0x0000
        finally:
            gateway.stop(grace=2)
    late = archive.commitment_requests.get(row.transaction_uid)
    assert late is not None and late.status == "committed"
    assert "after the sender stopped waiting" in late.detail
    events = [d for _, d in _audit(archive, PACS) if d.get("event") == "report"]
    assert [d["late"] for d in events] == [True]


def test_a_refused_n_action_and_bad_titles_say_so(
    archive: Archive, settings: ArchiveSettings, tmp_path: Path
) -> None:
    scp_port, our_port = free_port(), free_port()
    archive.add_node(PACS, host="127.0.0.1", port=scp_port, role="peer", requester=OPERATOR)
    files = _files(tmp_path / "out", 1)
    env = _env(settings, our_port)
    cli = CliRunner(env=env)
    with commitment_scp(scp_port, PACS, report_port=our_port, action_status=0x0110):
        result = cli.invoke(main, ["send", str(files[0]), "--to", PACS, "--commit"])
    assert result.exit_code == 1, result.output
    assert "committed 0, not committed 1" in result.stdout
    assert "storage commitment refused: N-ACTION answered 0x0110 out of disk" in result.stderr
    [row] = archive.commitment_requests.listing()
    assert row.status == "refused" and "0x0110" in row.detail
    for option in ("--to", "--aet"):
        args = ["send", str(files[0]), "--to", PACS, "--commit", option, "A" * 17]
        bad = cli.invoke(main, args)
        assert bad.exit_code == 2 and "1 to 16 characters" in bad.output


def _report(transaction: str, uids: list[str]) -> Dataset:
    ds = Dataset()
    ds.TransactionUID = transaction
    items = []
    for uid in uids:
        item = Dataset()
        item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.77.1.1"
        item.ReferencedSOPInstanceUID = uid
        items.append(item)
    ds.ReferencedSOPSequence = items
    return ds


def _n_event_report(port: int, calling: str, info: Dataset, event_type: int = 1) -> Dataset:
    role = build_role(COMMITMENT, scp_role=True)
    with associate(port, calling, [(COMMITMENT, UNCOMPRESSED)], ext_neg=[role]) as assoc:
        assert assoc.is_established
        status: Dataset = assoc.send_n_event_report(
            info, event_type, COMMITMENT, COMMITMENT_INSTANCE
        )[0]
        return status


def test_reports_are_refused_clearly_and_audited(gateway: Running) -> None:
    uids = [generate_uid(), generate_uid()]
    tx = generate_uid()
    gateway.archive.commitment_requests.record(
        tx, EPR, [("1.2.840.10008.5.1.4.1.1.77.1.1", u) for u in uids],
        calling_aet=AET, requester=OPERATOR,
    )  # fmt: skip

    wrong_node = _n_event_report(gateway.port, PEER, _report(tx, uids))
    assert wrong_node.Status == 0x0124
    assert "not the destination" in wrong_node.ErrorComment
    unknown = _n_event_report(gateway.port, EPR, _report(generate_uid(), uids))
    assert unknown.Status == 0x0115 and "unknown Transaction UID" in unknown.ErrorComment
    no_uid = _report(tx, uids)
    del no_uid.TransactionUID
    missing = _n_event_report(gateway.port, EPR, no_uid)
    assert missing.Status == 0x0115 and "Transaction UID missing" in missing.ErrorComment
    bad_type = _n_event_report(gateway.port, EPR, _report(tx, uids), event_type=3)
    assert bad_type.Status == 0x0113 and "event type 3" in bad_type.ErrorComment
    info = gateway.archive.commitment_requests.get(tx)
    assert info is not None and info.status == "pending"  # none of those touched it

    assert _n_event_report(gateway.port, EPR, _report(tx, uids[:1])).Status == 0x0000
    info = gateway.archive.commitment_requests.get(tx)
    assert info is not None and info.status == "partly-failed" and info.committed == uids[:1]

    refusals = [
        d.get("reason") for o, d in [*_audit(gateway.archive, PEER), *_audit(gateway.archive, EPR)]
        if o == "refused"
    ]  # fmt: skip
    assert refusals == [
        "not the destination of the transaction",
        "unknown transaction",
        "invalid event information: Transaction UID missing",
        "no such event type 3: 1 or 2",
    ]


def test_only_peers_and_eprs_that_take_the_scp_role_may_report(gateway: Running) -> None:
    role = build_role(COMMITMENT, scp_role=True)
    contexts = [(COMMITMENT, UNCOMPRESSED)]
    for title in (PEER, EPR):  # reporting: SCP role proposed and accepted, we are the SCU
        with associate(gateway.port, title, contexts, ext_neg=[role]) as assoc:
            [cx] = assoc.accepted_contexts
            assert (cx.as_scp, cx.as_scu) == (True, False), title
    with associate(gateway.port, PEER, contexts) as assoc:  # asking us to commit: no
        assert assoc.accepted_contexts == []
    # A camera keeps its usual context; an N-EVENT-REPORT from it is refused.
    with associate(gateway.port, CAMERA, contexts) as assoc:
        status = assoc.send_n_event_report(
            _report(generate_uid(), [generate_uid()]), 1, COMMITMENT, COMMITMENT_INSTANCE
        )[0]
    assert status.Status == 0x0124


def test_sends_listener_takes_only_the_destinations_report(gateway: Running) -> None:
    """The listener of `photopacs send`, in process: another node is rejected at
    association; the destination's report is recorded."""
    port = free_port()
    uid = generate_uid()
    with IndexedCommitment(
        gateway.archive, requester=OPERATOR, listen=("127.0.0.1", port)
    ) as tracker:
        tx = generate_uid()
        tracker.requested(tx, destination=EPR, calling_aet=AET,
                          refs=[("1.2.840.10008.5.1.4.1.1.77.1.1", uid)])  # fmt: skip
        assert tracker.where.startswith(f"127.0.0.1:{port} as {AET}")
        role = build_role(COMMITMENT, scp_role=True)
        with associate(port, PEER, [(COMMITMENT, UNCOMPRESSED)], ext_neg=[role]) as assoc:
            assert assoc.is_rejected
        assert tracker.outcome(tx) is None
        assert _n_event_report(port, EPR, _report(tx, [uid])).Status == 0x0000
        outcome = tracker.outcome(tx)
        assert outcome is not None and outcome.committed == [uid] and outcome.answered
    # a request to a node that may not report on a new association: no listener
    with IndexedCommitment(
        gateway.archive, requester=OPERATOR, listen=("127.0.0.1", port)
    ) as tracker:
        tracker.requested(generate_uid(), destination=CAMERA, calling_aet=AET,
                          refs=[("1.2.840.10008.5.1.4.1.1.77.1.1", uid)])  # fmt: skip
        assert tracker.listener is None and "same association only" in tracker.where


def test_same_association_reports_still_work_in_memory(gateway: Running, tmp_path: Path) -> None:
    """Without an index the Sender sees the report on its own association only."""
    [path] = _files(tmp_path / "mem", 1)
    result = Sender(CAMERA).send(
        [inspect(path)],
        Destination(AET, "127.0.0.1", gateway.port),
        commit=True,
        commit_timeout=20,
    )
    assert result.commit_answered and result.committed == [path.stem]
    assert result.commit_status == "committed"
