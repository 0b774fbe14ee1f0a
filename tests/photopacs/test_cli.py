"""The command line as scripts use it: output, exit codes, --help everywhere."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from archive import NotFound
from photopacs.cli import main
from photopacs.common import ArchiveGroup
from tests.factory import encode, make_dataset
from tests.photopacs.helpers import migrated_runner
from tests.serving import free_port, photopacs_bin, running


@pytest.fixture
def cli(tmp_path: Path, database_url: str) -> CliRunner:
    return migrated_runner(tmp_path, database_url)


def run(cli: CliRunner, *args: str) -> Result:
    return cli.invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def inbox(tmp_path: Path) -> tuple[Path, str, str]:
    folder = tmp_path / "inbox"
    (folder / "sub").mkdir(parents=True)
    first = make_dataset(patient_id="CLI1", patient_name="Ünal^Ayşe")
    second = make_dataset(
        patient_id="CLI1", patient_name="Ünal^Ayşe", study_uid=first.StudyInstanceUID
    )
    (folder / "a.dcm").write_bytes(encode(first))
    (folder / "sub" / "b.dcm").write_bytes(encode(second))
    (folder / "notes.txt").write_text("not dicom")
    return folder, first.StudyInstanceUID, first.SOPInstanceUID


def test_import_reports_stored_duplicate_refused(
    cli: CliRunner, inbox: tuple[Path, str, str]
) -> None:
    folder, _, _ = inbox
    result = run(cli, "import", str(folder))
    assert result.exit_code == 1  # one file refused
    assert "stored 2, duplicate 0, refused 1" in result.output
    assert "notes.txt: not a DICOM Part 10 file" in result.output
    again = run(cli, "import", str(folder / "a.dcm"))
    assert again.exit_code == 0 and "stored 0, duplicate 1, refused 0" in again.output


def test_query_json_quarantine_release_review(cli: CliRunner, inbox: tuple[Path, str, str]) -> None:
    folder, study, sop = inbox
    run(cli, "import", str(folder))
    result = run(
        cli,
        "query",
        "--level",
        "study",
        "--json",
        "PatientName=ünal*",
        "NumberOfStudyRelatedInstances=",
    )
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [
        {
            "PatientID": "CLI1",
            "PatientName": "Ünal^Ayşe",
            "StudyInstanceUID": study,
            "NumberOfStudyRelatedInstances": 2,
        }
    ]
    q = run(
        cli,
        "quarantine",
        "--level",
        "instance",
        sop,
        "--code",
        "wrong-patient",
        "--reason",
        "photo of another patient",
    )
    assert q.exit_code == 0 and "1 instance(s) now quarantined" in q.output
    hidden = run(cli, "query", "--level", "instance", "--json", "PatientID=CLI1")
    assert sop not in hidden.stdout and len(json.loads(hidden.stdout)) == 1
    no_reason = run(cli, "query", "--level", "instance", "--review", "PatientID=")
    assert no_reason.exit_code == 2 and "--review needs --reason" in no_reason.output
    review = run(
        cli,
        "query",
        "--level",
        "instance",
        "--json",
        "--review",
        "--reason",
        "IG-3: wrong-patient incident",
        "PatientID=",
    )
    assert [m["SOPInstanceUID"] for m in json.loads(review.stdout)] == [sop]
    r = run(cli, "release", "--level", "instance", sop)
    assert r.exit_code == 0
    assert sop in run(cli, "query", "--level", "instance", "PatientID=CLI1").stdout


def test_errors_have_messages_and_exit_codes(cli: CliRunner) -> None:
    bad_key = run(cli, "query", "--level", "patient", "Nonsense=1")
    assert bad_key.exit_code == 3 and "Nonsense is not a key" in bad_key.output
    not_pair = run(cli, "query", "--level", "patient", "PatientID")
    assert not_pair.exit_code == 2 and "KEY=VALUE" in not_pair.output
    missing = run(
        cli, "quarantine", "--level", "study", "1.2.3", "--code", "quality", "--reason", "x"
    )
    assert missing.exit_code == 3 and "no study 1.2.3" in missing.output
    no_reason = run(cli, "quarantine", "--level", "study", "1.2.3", "--code", "quality")
    assert no_reason.exit_code == 2
    bad_code = run(
        cli, "quarantine", "--level", "study", "1.2.3", "--code", "whim", "--reason", "x"
    )
    assert bad_code.exit_code == 2


def test_an_archive_error_at_any_depth_is_one_message_and_exit_3() -> None:
    assert isinstance(main, ArchiveGroup)

    @click.group(cls=ArchiveGroup)
    def top() -> None:
        pass

    @top.group()
    def inner() -> None:
        pass

    @inner.command()
    def boom() -> None:
        raise NotFound("no study 1.2.3")

    result = CliRunner().invoke(top, ["inner", "boom"])
    assert result.exit_code == 3
    assert result.stderr == "photopacs: no study 1.2.3\n" and result.stdout == ""


def test_audit_verify_and_fixity_exit_codes(
    cli: CliRunner, inbox: tuple[Path, str, str], tmp_path: Path
) -> None:
    folder, _, _ = inbox
    run(cli, "import", str(folder))
    ok = run(cli, "fixity", "check")
    assert ok.exit_code == 0 and "checked 2, mismatched 0, missing 0" in ok.output
    assert run(cli, "audit", "verify").exit_code == 0
    victim = next(p for p in (tmp_path / "data" / "objects").rglob("*.dcm"))
    victim.write_bytes(victim.read_bytes()[:-1] + b"\x00")
    bad = run(cli, "fixity", "check")
    assert bad.exit_code == 1 and "MISMATCH" in bad.output


def test_schema_out_of_date_is_explained(tmp_path: Path) -> None:
    runner = CliRunner(
        env={
            "PHOTOPACS_DATA_DIR": str(tmp_path / "d"),
            "PHOTOPACS_DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}",
        }
    )
    result = runner.invoke(main, ["query", "--level", "patient"])
    assert result.exit_code == 3 and "photopacs db upgrade" in result.output
    bad_url = CliRunner(env={"PHOTOPACS_DATABASE_URL": "mysql://nope"}).invoke(
        main, ["query", "--level", "patient"]
    )
    assert bad_url.exit_code == 3 and "unsupported database backend" in bad_url.output


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["serve"],
        ["import"],
        ["query"],
        ["quarantine"],
        ["hold"],
        ["erase"],
        ["legal-hold"],
        ["propagation"],
        ["review", "open"],
        ["review", "close"],
        ["review", "list"],
        ["release"],
        ["audit", "verify"],
        ["fixity", "check"],
        ["db", "upgrade"],
        ["db", "wait"],
    ],
)
def test_help_everywhere(args: list[str]) -> None:
    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_serve_answers_healthz_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """What `bin/start` does, on the embedded default (SQLite + a data folder)."""
    http, dicom = free_port(), free_port()
    env = {"PHOTOPACS_DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner(env=env)
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    assert (tmp_path / "data" / "index.sqlite3").exists()
    cmd = [photopacs_bin(), "serve", "--http-port", str(http), "--dicom-port", str(dicom)]
    with running(cmd, env, tmp_path / "log", http_port=http, dicom_port=dicom) as server:
        status, body = server.get("/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        assert server.get("/nope")[0] == 404
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=30) == 0


def test_serve_on_a_taken_dicom_port_says_so(tmp_path: Path) -> None:
    env = {"PHOTOPACS_DATA_DIR": str(tmp_path / "data")}
    assert CliRunner(env=env).invoke(main, ["db", "upgrade"]).exit_code == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [photopacs_bin(), "serve", "--http-port", str(free_port()), "--dicom-port", str(port)],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 3, result.stderr
    assert f"cannot listen for DICOM on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_node_add_list_remove(cli: CliRunner) -> None:
    added = run(
        cli,
        "node",
        "add",
        "CAMERA1",
        "--host",
        "10.0.0.5",
        "--port",
        "104",
        "--role",
        "modality",
    )
    assert added.exit_code == 0, added.output
    opted_out = run(cli, "node", "add", "PEER9", "--host", "10.0.0.6", "--port", "104",
                    "--role", "peer", "--no-check-address", "--no-transcode")  # fmt: skip
    assert opted_out.exit_code == 0, opted_out.output
    text = run(cli, "node", "list").stdout
    assert "PEER9" in text and "(address not checked) (no transcoding)" in text
    assert run(cli, "node", "remove", "PEER9").exit_code == 0
    assert (
        run(cli, "node", "add", "CAMERA1", "--host", "h", "--port", "1", "--role", "epr").exit_code
        == 3
    )
    assert (
        run(
            cli, "node", "add", "TOO_LONG_AE_TITLE_X", "--host", "h", "--port", "1", "--role", "epr"
        ).exit_code
        == 3
    )
    assert (
        run(cli, "node", "add", "X", "--host", "h", "--port", "0", "--role", "epr").exit_code == 3
    )
    assert (
        run(cli, "node", "add", "X", "--host", "h", "--port", "1", "--role", "boss").exit_code == 2
    )
    listed = json.loads(run(cli, "node", "list", "--json").stdout)
    assert listed == [
        {
            "ae_title": "CAMERA1",
            "host": "10.0.0.5",
            "port": 104,
            "role": "modality",
            "check_address": True,  # by default: an AE title alone is not enough
            "transcode": True,
            "description": "",
        }
    ]
    assert run(cli, "node", "remove", "CAMERA1").exit_code == 0
    assert run(cli, "node", "remove", "CAMERA1").exit_code == 3
    assert json.loads(run(cli, "node", "list", "--json").stdout) == []


def test_user_add_with_password_stdin_never_on_the_command_line(cli: CliRunner) -> None:
    pw = "a long enough password\n"
    added = cli.invoke(
        main, ["user", "add", "alice", "--role", "admin", "--password-stdin"], input=pw
    )
    assert added.exit_code == 0, added.output
    assert "added alice (admin)" in added.output
    weak = cli.invoke(
        main, ["user", "add", "bob", "--role", "clinician", "--password-stdin"], input="short\n"
    )
    assert weak.exit_code == 3 and "at least 12" in weak.output
    prompted = cli.invoke(
        main,
        ["user", "add", "carol", "--role", "educator"],
        input="another long password\nanother long password\n",
    )
    assert prompted.exit_code == 0, prompted.output
    listed = run(cli, "user", "list").output
    assert "alice" in listed and "carol" in listed and "educator" in listed
    assert run(cli, "user", "disable", "carol").exit_code == 0
    assert "disabled" in run(cli, "user", "list").output
    assert (
        cli.invoke(
            main, ["user", "reset", "carol", "--password-stdin"], input="a new long password\n"
        ).exit_code
        == 0
    )
    assert run(cli, "user", "disable", "nobody").exit_code == 3
    assert (
        cli.invoke(
            main, ["user", "add", "x", "--role", "epr", "--password-stdin"], input=pw
        ).exit_code
        == 2
    )


def test_review_open_list_close(cli: CliRunner) -> None:
    run(
        cli, "node", "add", "IGNODE", "--host", "127.0.0.1", "--port", "104", "--role", "governance"
    )
    short = run(cli, "review", "open", "IGNODE", "--reason", "look")
    assert short.exit_code == 3 and "state the reason" in short.output
    wrong = run(cli, "review", "open", "NOBODY", "--reason", "IG-9: incident review")
    assert wrong.exit_code == 3 and "no node" in wrong.output
    opened = run(
        cli, "review", "open", "IGNODE", "--reason", "IG-9: incident review", "--hours", "2"
    )
    assert opened.exit_code == 0 and "review 1 open for IGNODE" in opened.output
    [row] = json.loads(run(cli, "review", "list", "--open", "--json").stdout)
    assert row["subject"] == "node:IGNODE" and row["reason"] == "IG-9: incident review"
    assert row["closed_at"] is None
    assert run(cli, "review", "close", "IGNODE").exit_code == 0
    assert json.loads(run(cli, "review", "list", "--open", "--json").stdout) == []
    again = run(cli, "review", "close", "IGNODE")
    assert again.exit_code == 3 and "has no open review" in again.output
