"""The `photopacs` command line.

Exit codes scripts can rely on: 0 success; 1 the command ran and found
problems (refused files, fixity or audit-chain failures); 2 usage error;
3 the archive could not do what was asked (configuration, schema, not
found, refused transition).
"""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from pydicom.dataset import Dataset

from archive import (
    Archive,
    ArchiveError,
    ArchiveSettings,
    Availability,
    Level,
    NodeRole,
    Origin,
    Purpose,
    ReasonCode,
    Requester,
    Role,
)
from archive.convert import ConversionError
from archive.db import migrate, schema_revision
from archive.reviews import valid_reason
from photopacs.capture import Capture, build_capture, capture_options, is_media
from photopacs.commands.consent import consent
from photopacs.commands.dicom import send
from photopacs.commands.forward import commitment, forward
from photopacs.commands.review import review
from photopacs.commands.users import user
from photopacs.common import EXIT_PROBLEMS, fail, open_archive, operator

LEVELS = click.Choice(["patient", "study", "series", "instance"], case_sensitive=False)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def main(verbose: int) -> None:
    """photopacs: a consent-aware archive for clinical photographs and video."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


# --- database ----------------------------------------------------------------
@main.group()
def db() -> None:
    """Index database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the index database to this version's schema."""
    try:
        archive = Archive(ArchiveSettings())
        with archive:
            migrate(archive.engine)
            current, _ = schema_revision(archive.engine)
            archive.store.initialise()
    except ArchiveError as exc:
        fail(str(exc))
    click.echo(f"index database at revision {current}")


@db.command("status")
def db_status() -> None:
    """Show the schema revision of the database and of this code."""
    try:
        with Archive(ArchiveSettings()) as archive:
            current, head = schema_revision(archive.engine)
    except ArchiveError as exc:
        fail(str(exc))
    click.echo(f"database: {current or 'empty'}\ncode:     {head}")
    if current != head:
        sys.exit(EXIT_PROBLEMS)


@db.command("wait")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait.")
def db_wait(timeout: float) -> None:
    """Wait until the index database accepts connections (for container start-up)."""
    import time

    deadline = time.monotonic() + timeout
    with Archive(ArchiveSettings()) as archive:
        while True:
            try:
                schema_revision(archive.engine)
                return
            except ArchiveError as exc:
                if time.monotonic() > deadline:
                    fail(f"database not reachable after {timeout:.0f}s: {exc}")
                time.sleep(0.5)


# --- serve -------------------------------------------------------------------
@main.command()
@click.option("--aet", default=None, help="Our AE title [PHOTOPACS_AET, PHOTOPACS].")
@click.option("--dicom-port", type=int, default=None, help="DICOM port [11112].")
@click.option("--http-port", type=int, default=None, help="HTTP port [8000].")
@click.option("--host", "bind_host", default=None, help="Bind address [127.0.0.1].")
@click.option(
    "--dicom-workers",
    type=int,
    default=None,
    help="DICOM receiving processes sharing the port [1].",
)
def serve(
    aet: str | None,
    dicom_port: int | None,
    http_port: int | None,
    bind_host: str | None,
    dicom_workers: int | None,
) -> None:
    """Run the archive's network services until SIGTERM or Ctrl-C."""
    from photopacs.server import run
    from photopacs.settings import ServeSettings

    overrides: dict[str, Any] = {
        k: v
        for k, v in {
            "aet": aet,
            "dicom_port": dicom_port,
            "http_port": http_port,
            "bind_host": bind_host,
            "dicom_workers": dicom_workers,
        }.items()
        if v is not None
    }
    try:
        serve_settings = ServeSettings(**overrides)
    except ValueError as exc:
        fail(f"invalid setting: {exc}")
    archive = open_archive()
    try:
        run(archive, serve_settings)
    finally:
        archive.close()


# --- import ------------------------------------------------------------------
def _files(paths: tuple[Path, ...]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        else:
            yield path


def _encode(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@main.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@capture_options
def import_(paths: tuple[Path, ...], **options: Any) -> None:
    """Ingest DICOM files, photos (JPEG, PNG, TIFF, HEIC) and videos (MP4, MOV), or
    folders of them. Photos and videos are converted first (see `photopacs convert`)
    and need --patient-id; files of one run form one capture session (one series)."""
    files = list(_files(paths))
    stored = duplicates = 0
    refused: list[tuple[Path, str]] = []
    origin = Origin(actor=operator(), role=str(Role.OPERATOR), received_from="import")
    media = {path for path in files if is_media(path)}
    capture: Capture | None = None
    with (
        open_archive() as archive,
        click.progressbar(files, label="importing", file=sys.stderr, show_pos=True) as bar,
    ):
        for path in bar:
            try:
                if path in media:
                    if capture is None:
                        capture = build_capture(options, uid_root=archive.settings.uid_root)
                    sources: list[bytes | Path] = [_encode(ds) for ds in capture.convert(path)]
                else:
                    sources = [path]
                for source in sources:
                    result = archive.ingest(source, origin=origin)
                    if result.status == "stored":
                        stored += 1
                    else:
                        duplicates += 1
            except ConversionError as exc:
                refused.append((path, exc.reason))
            except ArchiveError as exc:
                refused.append((path, str(exc)))
    click.echo(f"stored {stored}, duplicate {duplicates}, refused {len(refused)}")
    for path, reason in refused:
        click.echo(f"  refused {path}: {reason}")
    if refused:
        sys.exit(EXIT_PROBLEMS)


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the .dcm files (named by SOP Instance UID, never by patient).",
)
@capture_options
def convert(inputs: tuple[Path, ...], out: Path, **options: Any) -> None:
    """Convert photos and videos to DICOM Visible Light objects without storing them."""
    try:
        settings = ArchiveSettings()
    except ValueError as exc:
        fail(f"invalid setting: {exc}")
    capture = build_capture(options, uid_root=settings.uid_root)
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    failed: list[tuple[Path, str]] = []
    for path in _files(inputs):
        try:
            datasets = capture.convert(path)
        except ConversionError as exc:
            failed.append((path, exc.reason))
            continue
        for ds in datasets:
            target = out / f"{ds.SOPInstanceUID}.dcm"
            ds.save_as(target, enforce_file_format=True)
            click.echo(f"{path} -> {target.name}")
            written += 1
    click.echo(f"wrote {written} object(s), {len(failed)} input(s) failed", err=True)
    for path, reason in failed:
        click.echo(f"  failed {path}: {reason}", err=True)
    if failed:
        sys.exit(EXIT_PROBLEMS)


# --- query -------------------------------------------------------------------
def _parse_keys(pairs: tuple[str, ...]) -> dict[str, str]:
    identifier: dict[str, str] = {}
    for pair in pairs:
        keyword, sep, value = pair.partition("=")
        if not sep or not keyword:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="KEYS")
        identifier[keyword.strip()] = value
    return identifier


@main.command()
@click.option("--level", type=LEVELS, required=True, help="Query/retrieve level.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option(
    "--review", is_flag=True, help="Governance review: show held and quarantined objects only."
)
@click.option("--reason", default="", help="With --review: why (audited with every match).")
@click.argument("keys", nargs=-1)
def query(level: str, as_json: bool, review: bool, reason: str, keys: tuple[str, ...]) -> None:
    """Find patients, studies, series or instances: KEY=VALUE with DICOM matching
    (wildcards * ?, ranges A-B, UID lists U1\\U2; KEY= returns the key)."""
    identifier = _parse_keys(keys)
    if review:
        try:
            reason = valid_reason(reason)
        except ArchiveError as exc:
            fail(f"--review needs --reason: {exc}", 2)
    elif reason:
        fail("--reason goes with --review", 2)
    requester = Requester(
        actor=operator(),
        role=Role.OPERATOR,
        purpose=Purpose.GOVERNANCE if review else Purpose.CARE,
        review=review,
        review_reason=reason,
    )
    with open_archive() as archive:
        try:
            matches = archive.find(Level.parse(level), identifier, requester=requester)
        except ArchiveError as exc:
            fail(str(exc))
    if as_json:
        click.echo(json.dumps(matches, indent=2, ensure_ascii=False))
        return
    for match in matches:
        click.echo("  ".join(f"{k}={_show(v)}" for k, v in match.items()))
    click.echo(f"{len(matches)} match(es)", err=True)


def _show(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "\\".join(str(v) for v in value)
    return str(value)


# --- availability ------------------------------------------------------------
REASON_CODES = click.Choice([c.value for c in ReasonCode])


def _transition(level: str, uid: str, target: Availability, reason: str, code: str = "") -> None:
    with open_archive() as archive:
        try:
            result = archive.govern(
                Level.parse(level),
                uid,
                target,
                reason=reason,
                requester=Requester.operator(operator()),
                reason_code=code,
            )
        except ArchiveError as exc:
            fail(str(exc))
    click.echo(
        f"{len(result.changed)} instance(s) now {target}; {len(result.unchanged)} left as they were"
    )
    if result.held_by_consent:
        click.echo(
            f"{len(result.held_by_consent)} instance(s) not released: their consent does "
            "not allow use (see `photopacs consent show`)"
        )


def _governance_options(func: Any) -> Any:
    func = click.argument("uid")(func)
    func = click.option(
        "--reason", required=True, help="Why, in words (recorded in the audit trail)."
    )(func)
    func = click.option("--code", type=REASON_CODES, required=True, help="Reason code.")(func)
    return click.option("--level", type=LEVELS, required=True)(func)


@main.command()
@_governance_options
def quarantine(level: str, code: str, reason: str, uid: str) -> None:
    """Quarantine a patient (by PatientID), study, series or instance: kept, invisible."""
    _transition(level, uid, Availability.QUARANTINED, reason, code)


@main.command()
@_governance_options
def hold(level: str, code: str, reason: str, uid: str) -> None:
    """Hold objects for governance review: kept, invisible until released."""
    _transition(level, uid, Availability.HELD, reason, code)


@main.command()
@_governance_options
def erase(level: str, code: str, reason: str, uid: str) -> None:
    """Erase content not needed clinically (R16): bytes deleted, tombstone and audit kept.
    Refused under a legal hold; cannot be undone."""
    _transition(level, uid, Availability.ERASED, reason, code)


@main.command()
@click.option("--level", type=LEVELS, required=True)
@click.option("--reason", default="released by operator", help="Why (recorded in the audit).")
@click.argument("uid")
def release(level: str, reason: str, uid: str) -> None:
    """End a governance hold or quarantine: the objects follow their consent again."""
    _transition(level, uid, Availability.ACTIVE, reason)


@main.command("legal-hold")
@click.argument("action", type=click.Choice(["set", "clear"]))
@click.option("--level", type=LEVELS, required=True)
@click.option("--reason", required=True, help="Why (recorded in the audit trail).")
@click.argument("uid")
def legal_hold(action: str, level: str, reason: str, uid: str) -> None:
    """Place or lift a legal hold: held objects may not be erased."""
    with open_archive() as archive:
        try:
            n = archive.set_legal_hold(
                Level.parse(level),
                uid,
                on=action == "set",
                reason=reason,
                actor=operator(),
                role=str(Role.OPERATOR),
            )
        except ArchiveError as exc:
            fail(str(exc))
    click.echo(f"legal hold {'placed on' if action == 'set' else 'lifted from'} {n} instance(s)")


@main.command("propagation")
@click.option("--all", "show_all", is_flag=True, help="Include sent and failed ones.")
def propagation(show_all: bool) -> None:
    """Rejection notes owed to peers holding copies of quarantined objects."""
    with open_archive() as archive:
        rows = archive.propagations(status=None if show_all else "pending")
    for row in rows:
        count = len(json.loads(row.sop_instance_uids))
        error = f"  last error: {row.last_error}" if row.last_error else ""
        click.echo(
            f"{row.pk:>6} {row.destination:<16} {row.title_code} {row.status:<8} "
            f"{count} instance(s), {row.attempts} attempt(s){error}"
        )
    click.echo(f"{len(rows)} propagation(s)", err=True)


# --- audit and fixity ----------------------------------------------------------
@main.group()
def audit() -> None:
    """The tamper-evident audit trail."""


@audit.command("verify")
def audit_verify() -> None:
    """Recompute the hash chain; exit 1 if any event was edited, inserted or deleted."""
    with open_archive() as archive:
        report = archive.verify_audit(actor=operator())
    click.echo(f"{report.events} audit event(s) checked")
    for problem in report.problems:
        click.echo(f"  {problem}")
    if not report.ok:
        click.echo("audit chain BROKEN", err=True)
        sys.exit(EXIT_PROBLEMS)
    click.echo("audit chain intact")


@main.group()
def fixity() -> None:
    """Integrity of the stored objects."""


@fixity.command("check")
def fixity_check() -> None:
    """Re-hash every stored object; exit 1 on any mismatch or missing file."""
    with open_archive() as archive:
        report = archive.fixity_check(actor=operator())
    click.echo(
        f"checked {report.checked}, mismatched {len(report.mismatched)}, "
        f"missing {len(report.missing)}, erased {report.erased}, "
        f"unreferenced files {len(report.unreferenced)}"
    )
    for uid in report.mismatched:
        click.echo(f"  MISMATCH {uid}")
    for uid in report.missing:
        click.echo(f"  MISSING  {uid}")
    if not report.ok:
        sys.exit(EXIT_PROBLEMS)


@main.command("verify-erasure")
def verify_erasure() -> None:
    """Search the data folder for any copy of an erased recording (the object, its
    thumbnails, renders, remuxes, or a file with its content); exit 1 if one is found."""
    with open_archive() as archive:
        report = archive.verify_erasure(actor=operator())
    click.echo(
        f"erased {report.erased}, files checked {report.files_checked}, "
        f"copies found {len(report.leftovers)}"
    )
    for uid, path in report.leftovers:
        click.echo(f"  LEFT {uid}: {path}")
    if not report.ok:
        sys.exit(EXIT_PROBLEMS)


# --- known DICOM nodes ---------------------------------------------------------
@main.group()
def node() -> None:
    """Known DICOM nodes: unknown AE titles are refused at association."""


@node.command("add")
@click.argument("ae_title")
@click.option("--host", required=True, help="Host name or address of the node.")
@click.option("--port", type=int, required=True, help="Its DICOM port.")
@click.option(
    "--role",
    type=click.Choice([r.value for r in NodeRole]),
    required=True,
    help="modality: echo, store, commit; epr: echo, find, move, get; peer: move/forward "
    "destination; epr and peer may report on `send --commit` requests; governance: review "
    "of held/quarantined objects.",
)
@click.option(
    "--check-address/--no-check-address",
    default=True,
    show_default=True,
    help="Refuse associations with this AE title from any other address than --host's.",
)
@click.option(
    "--transcode/--no-transcode",
    default=True,
    show_default=True,
    help="Decode objects to Explicit VR Little Endian when the node cannot take the stored "
    "transfer syntax (C-MOVE, C-GET, forwarding, send).",
)
@click.option("--description", default="", help="Free text, e.g. the device's location.")
def node_add(
    ae_title: str,
    host: str,
    port: int,
    role: str,
    check_address: bool,
    transcode: bool,
    description: str,
) -> None:
    """Register a DICOM node."""
    with open_archive() as archive:
        try:
            info = archive.add_node(
                ae_title,
                host=host,
                port=port,
                role=role,
                check_address=check_address,
                transcode=transcode,
                description=description,
                actor=operator(),
            )
        except ArchiveError as exc:
            fail(str(exc))
    click.echo(f"added {info.ae_title} ({info.role}) at {info.host}:{info.port}")


@node.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def node_list(as_json: bool) -> None:
    """List the registered nodes."""
    with open_archive() as archive:
        found = archive.nodes()
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "ae_title": n.ae_title,
                        "host": n.host,
                        "port": n.port,
                        "role": str(n.role),
                        "check_address": n.check_address,
                        "transcode": n.transcode,
                        "description": n.description,
                    }
                    for n in found
                ],
                indent=2,
            )
        )
        return
    for n in found:
        notes = ("" if n.check_address else " (address not checked)") + (
            "" if n.transcode else " (no transcoding)"
        )
        click.echo(f"{n.ae_title:<16} {n.role!s:<10} {n.host}:{n.port}{notes}  {n.description}")


@node.command("remove")
@click.argument("ae_title")
def node_remove(ae_title: str) -> None:
    """Forget a DICOM node: it can no longer associate."""
    with open_archive() as archive:
        try:
            archive.remove_node(ae_title, actor=operator())
        except ArchiveError as exc:
            fail(str(exc))
    click.echo(f"removed {ae_title.strip()}")


main.add_command(consent)
main.add_command(user)
main.add_command(send)
main.add_command(review)
main.add_command(forward)
main.add_command(commitment)
