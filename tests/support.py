"""Shared test helpers: dependency gates, external validators, sample files.

In CI (``CI=true``) a test whose dependency is missing fails instead of
skipping, so a green CI run always means the real thing was exercised.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "data"
"""The sample files (photos, a video, DICOM objects made by other tools):
made by ``tests/data/make.py``, described in ``tests/data/README.md``."""


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require(condition: bool, what: str) -> None:
    """Skip (locally) or fail (in CI) when a dependency is missing."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"required in CI but missing: {what}")
    pytest.skip(f"missing: {what}")


def require_tool(name: str, package: str) -> str:
    """The executable ``name`` from the Debian package ``package``, or skip/fail."""
    path = find_tool(name, package)
    require(path is not None, f"`{name}` (Debian package {package})")
    assert path is not None
    return path


def find_tool(name: str, package: str) -> str | None:
    """The first ``name`` on PATH that really is ``package``'s.

    pynetdicom installs Python scripts called ``storescu``, ``storescp``,
    ``findscu``, ``movescu``, ``getscu`` and ``echoscu`` into the virtualenv's
    ``bin``; with the virtualenv activated they come first on PATH and take
    other options than dcmtk's tools. So for dcmtk every match on PATH is asked
    for its version and only one that says it is dcmtk is taken.
    """
    for folder in os.get_exec_path():
        path = shutil.which(name, path=folder)
        if path is not None and (package != "dcmtk" or _is_dcmtk(path)):
            return path
    return None


@functools.cache
def _is_dcmtk(path: str) -> bool:
    try:
        proc = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return False
    return "$dcmtk:" in proc.stdout + proc.stderr


def corpus(*parts: str) -> Path:
    """A sample file under ``tests/data`` (``corpus("jpeg", "rose.jpg")``)."""
    path = CORPUS.joinpath(*parts)
    assert path.is_file(), f"no sample file {path}: run tests/data/make.py"
    return path


@dataclass(frozen=True)
class Validation:
    errors: list[str]
    warnings: list[str]
    output: str


def dciodvfy(path: Path) -> Validation:
    """Run dicom3tools' ``dciodvfy`` over a file and split its findings."""
    exe = require_tool("dciodvfy", "dicom3tools")
    proc = subprocess.run(
        [exe, "-new", str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    out = proc.stdout + proc.stderr
    errors = [line for line in out.splitlines() if line.startswith("Error")]
    warnings = [line for line in out.splitlines() if line.startswith("Warning")]
    return Validation(errors=errors, warnings=warnings, output=out)
