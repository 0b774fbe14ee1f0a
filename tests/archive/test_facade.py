"""The archive's one way in (issue #13): the edges import ``archive`` (its
``__all__``) and ``archive.convert`` only, which an import-linter contract in
pyproject.toml enforces. The contract names every other archive module; this
test keeps that list exact, so a new module cannot slip past it."""

from __future__ import annotations

import inspect
import pkgutil
import tomllib
import typing
from collections.abc import Callable, Iterator
from pathlib import Path

import archive
from archive.exchange.commitment_requests import CommitmentRequests
from archive.exchange.commitments import CommitmentReports
from archive.exchange.forwarding import ForwardQueue
from archive.exchange.propagation import Propagations
from archive.models import Base

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
OPEN = {"archive.convert"}  # the edges may import it (and its modules)
EDGES = {
    "dicom_gateway",
    "web_viewer",
    "photopacs",
}  # the edges and the command line  # the edges may import it (and its modules)


def _facade_contract() -> dict[str, object]:
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    found = [
        c
        for c in contracts
        if c["type"] == "forbidden"
        and set(c["source_modules"]) == {"dicom_gateway", "web_viewer", "photopacs"}
    ]
    assert len(found) == 1, "one forbidden contract for the edges' imports of archive"
    contract: dict[str, object] = found[0]
    return contract


def _archive_modules() -> set[str]:
    """The modules and packages directly under archive/ (what import-linter sees)."""
    return {f"archive.{m.name}" for m in pkgutil.iter_modules(archive.__path__)}


def test_the_contract_forbids_every_archive_module_but_convert() -> None:
    contract = _facade_contract()
    forbidden = set(contract["forbidden_modules"])  # type: ignore[call-overload]
    modules = _archive_modules()
    missing = sorted(modules - OPEN - forbidden)
    assert not missing, (
        f"{missing} not in the edges' forbidden_modules in pyproject.toml: add them "
        "(and re-export from archive/__init__.py what the edges need of them)"
    )
    stale = sorted(forbidden - modules)
    assert not stale, f"forbidden_modules names modules that are gone: {stale}"
    assert not forbidden & OPEN
    assert contract["allow_indirect_imports"] is True  # archive/__init__ imports them all


def test_everything_in_all_is_there() -> None:
    missing = [name for name in archive.__all__ if not hasattr(archive, name)]
    assert not missing


def _types(hint: object) -> list[object]:
    return [hint, *(t for arg in typing.get_args(hint) for t in _types(arg))]


def test_archive_methods_return_no_index_rows() -> None:
    """Public methods return dataclasses, never ORM rows."""
    rows = [
        name
        for name, fn in inspect.getmembers(archive.Archive, inspect.isfunction)
        if not name.startswith("_")
        for t in _types(typing.get_type_hints(fn).get("return"))
        if isinstance(t, type) and issubclass(t, Base)
    ]
    assert not rows


# Issue #12, ADR 0009: who did something is one Actor value (``requester=``), never
# loose strings. These words mean something else in these places.
LOOSE = {"actor", "role", "purpose", "source"}
NOT_WHO_ACTS = {
    ("Archive", "add_node", "role"): "the node's role",
    ("Archive", "ingest", "source"): "the bytes to store",
    ("Accounts", "add", "role"): "the new account's role",
    ("Accounts", "set_role", "role"): "the role the account is given",
    ("Accounts", "set_purpose", "purpose"): "the purpose a session chooses to act for",
    ("Accounts", "sign_in", "source"): "the address of someone not yet signed in",
}


# What Archive reaches its outboxes through (archive.forwarding, .commitments, ...).
OUTBOXES = (ForwardQueue, CommitmentReports, CommitmentRequests, Propagations)


def _public_methods(cls: type) -> Iterator[tuple[str, Callable[..., object]]]:
    for name, member in vars(cls).items():
        function = getattr(member, "__func__", member)  # static and class methods
        if not name.startswith("_") and inspect.isfunction(function):
            yield name, function


def test_who_acts_is_one_actor_value() -> None:
    """No public Archive, Accounts or outbox method takes a loose actor, role, purpose or
    source; what takes a requester takes an Actor."""
    loose, untyped, seen = [], [], set()
    for cls in (archive.Archive, archive.Accounts, *OUTBOXES):
        for name, function in _public_methods(cls):
            hints = typing.get_type_hints(function)
            for param in inspect.signature(function).parameters:
                where = (cls.__name__, name, param)
                if param in LOOSE and where not in NOT_WHO_ACTS:
                    loose.append(".".join(where))
                seen.add(where)
                if param == "requester" and hints.get(param) is not archive.Actor:
                    untyped.append(".".join(where))
    assert not loose, f"take requester: Actor instead of {loose} (ADR 0009)"
    assert not untyped, f"a requester is an Actor: {untyped}"
    assert set(NOT_WHO_ACTS) <= seen, "an exception above names a parameter that is gone"


def test_one_function_writes_an_instances_availability() -> None:
    """Ingest, consent re-evaluation and every governance action (erasure
    included) go through consent.settle, which enforces the allowed transitions:
    no other code in the archive assigns ``.availability``."""
    import ast

    root = Path(archive.__file__).parent
    writers = set()
    for path in root.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                targets = (
                    node.targets
                    if isinstance(node, ast.Assign)
                    else [node.target]
                    if isinstance(node, ast.AugAssign | ast.AnnAssign)
                    else []
                )
                if any(isinstance(t, ast.Attribute) and t.attr == "availability" for t in targets):
                    writers.add((str(path.relative_to(root)), function.name))
    assert writers == {("consent/evaluation.py", "settle")}
