"""`photopacs forward` and `photopacs commitment` as scripts use them: clear
messages and exit codes for bad input, nothing stored by a refused command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from photopacs.cli import main
from tests.photopacs.helpers import migrated_runner


@pytest.fixture
def cli(tmp_path: Path, database_url: str) -> CliRunner:
    runner = migrated_runner(tmp_path, database_url)
    for title, role in (("CAM1", "modality"), ("PEER1", "peer"), ("GOV1", "governance")):
        args = ["node", "add", title, "--host", "127.0.0.1", "--port", "104", "--role", role]
        assert runner.invoke(main, args).exit_code == 0
    return runner


def run(cli: CliRunner, *args: str) -> Result:
    return cli.invoke(main, list(args), catch_exceptions=False)


def test_forward_rules_add_list_remove(cli: CliRunner) -> None:
    added = run(cli, "forward", "add", "--from", "CAM1", "--to", "PEER1")
    assert added.exit_code == 0 and "CAM1 -> PEER1" in added.output
    any_source = run(
        cli,
        "forward",
        "add",
        "--from",
        "*",
        "--to",
        "PEER1",
        "--sop-class",
        "1.2.840.10008.5.1.4.1.1.77.1.4",
    )
    assert any_source.exit_code == 0
    rules = json.loads(run(cli, "forward", "list", "--json").stdout)
    assert [(r["from"], r["to"], r["sop_class_uid"]) for r in rules] == [
        ("CAM1", "PEER1", ""),
        ("*", "PEER1", "1.2.840.10008.5.1.4.1.1.77.1.4"),
    ]
    removed = run(cli, "forward", "remove", str(rules[0]["number"]))
    assert removed.exit_code == 0
    assert len(json.loads(run(cli, "forward", "list", "--json").stdout)) == 1
    again = run(cli, "forward", "remove", str(rules[0]["number"]))
    assert again.exit_code == 3 and "no forwarding rule" in again.output


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--from", "CAM\\1", "--to", "PEER1"], 2, "backslash"),
        (["--from", "A" * 17, "--to", "PEER1"], 2, "1 to 16 characters"),
        (["--from", "CAM1", "--to", ""], 2, "1 to 16 characters"),
        (["--from", "CAM1", "--to", "PEER1", "--sop-class", "1.2.x"], 2, "not a UID"),
        (["--from", "CAM1"], 2, "Missing option '--to'"),
        (["--from", "CAM1", "--to", "NOBODY"], 3, "no registered node NOBODY"),
        (["--from", "CAM1", "--to", "GOV1"], 3, "peer or epr nodes only"),
    ],
)
def test_bad_rules_are_refused_clearly(
    cli: CliRunner, args: list[str], code: int, message: str
) -> None:
    result = run(cli, "forward", "add", *args)
    assert result.exit_code == code
    assert message in result.output
    assert json.loads(run(cli, "forward", "list", "--json").stdout) == []


def test_empty_queues_and_help(cli: CliRunner) -> None:
    assert json.loads(run(cli, "forward", "queue", "--all", "--json").stdout) == []
    assert json.loads(run(cli, "commitment", "list", "--all", "--json").stdout) == []
    retried = run(cli, "forward", "retry", "99")
    assert retried.exit_code == 3 and "no failed forwarding job 99" in retried.output
    for command in (
        ["forward", "--help"],
        ["forward", "add", "--help"],
        ["commitment", "list", "--help"],
    ):
        assert run(cli, *command).exit_code == 0
