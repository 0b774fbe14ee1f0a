"""`photopacs user ...`: weak passwords and the last active administrator are
refused with a reason (exit 3); roles can be changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from photopacs.cli import main
from tests.photopacs.helpers import migrated_runner

PW = "a long enough password\n"


@pytest.fixture
def cli(tmp_path: Path, database_url: str) -> CliRunner:
    return migrated_runner(tmp_path, database_url)


def invoke(cli: CliRunner, *args: str, stdin: str | None = None) -> Result:
    return cli.invoke(main, list(args), input=stdin)


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("            ", "only spaces"),
        ("aaaaaaaaaaaa", "one character repeated"),
        ("password1234", "commonly used"),
        ("123456789012", "sequence"),
        ("alice-in-wonderland", "user name"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(
    cli: CliRunner, password: str, reason: str
) -> None:
    r = invoke(cli, "user", "add", "alice", "--role", "admin", "--password-stdin", stdin=password)
    assert r.exit_code == 3 and reason in r.output, r.output
    assert invoke(cli, "user", "add", "alice", "--role", "admin", "--password-stdin", stdin=PW)
    r = invoke(cli, "user", "reset", "alice", "--password-stdin", stdin=password)
    assert r.exit_code == 3 and reason in r.output, r.output


def test_the_last_active_admin_cannot_be_disabled_or_demoted(cli: CliRunner) -> None:
    for name, role in (("alice", "admin"), ("bob", "admin"), ("carol", "clinician")):
        r = invoke(cli, "user", "add", name, "--role", role, "--password-stdin", stdin=PW)
        assert r.exit_code == 0, r.output
    assert invoke(cli, "user", "disable", "bob").exit_code == 0
    r = invoke(cli, "user", "disable", "alice")
    assert r.exit_code == 3 and "last active administrator" in r.output
    r = invoke(cli, "user", "role", "alice", "clinician")
    assert r.exit_code == 3 and "last active administrator" in r.output
    assert invoke(cli, "user", "enable", "bob").exit_code == 0
    r = invoke(cli, "user", "role", "alice", "clinician")
    assert r.exit_code == 0 and "alice is now a clinician" in r.output
    r = invoke(cli, "user", "role", "carol", "epr")
    assert r.exit_code == 2
    listed = invoke(cli, "user", "list").output
    assert "alice" in listed and "clinician" in listed
