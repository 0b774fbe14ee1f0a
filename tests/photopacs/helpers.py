"""What the command-line tests share: a runner over a fresh, migrated archive."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from photopacs.cli import main


def migrated_runner(tmp_path: Path, database_url: str, **env: str) -> CliRunner:
    """A CliRunner whose archive lives under ``tmp_path`` and whose database has
    been upgraded; ``env`` adds or overrides environment variables."""
    runner = CliRunner(
        env={
            "PHOTOPACS_DATA_DIR": str(tmp_path / "data"),
            "PHOTOPACS_DATABASE_URL": database_url,
            "PHOTOPACS_MIN_FREE_BYTES": "0",
            **env,
        }
    )
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    return runner
