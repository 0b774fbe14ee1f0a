"""The test helpers find the real external tools."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import require, require_tool


@pytest.mark.dcmtk
@pytest.mark.parametrize("name", ["storescu", "storescp", "findscu", "movescu", "getscu"])
def test_dcmtk_tools_are_found_behind_pynetdicoms_scripts(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the virtualenv activated, pynetdicom's Python scripts of the same
    names come first on PATH; the suite must still run dcmtk's tools."""
    venv_bin = Path(sys.executable).parent
    require((venv_bin / name).exists(), f"pynetdicom's {name} script in {venv_bin}")
    monkeypatch.setenv("PATH", f"{venv_bin}{os.pathsep}{os.environ['PATH']}")
    path = require_tool(name, "dcmtk")
    assert Path(path).parent != venv_bin
    version = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    assert version.stdout.startswith(f"$dcmtk: {name} ")
