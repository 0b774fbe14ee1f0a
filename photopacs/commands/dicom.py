"""`photopacs node ...`: the known DICOM nodes (unknown AE titles are refused
at association); `photopacs send`: push DICOM files (or photos and videos,
converted first) to a DICOM node over one association, with optional storage
commitment.

With --commit the request is recorded in the index before the N-ACTION and
the report is taken on the same association or on a new one the destination
opens to our AE title (PS3.4 J.3.3.1.3): `photopacs serve` receives and
records it when it runs; otherwise `send` listens on the archive's DICOM port
itself while it waits (:mod:`dicom_gateway.commitment_index`).

`send` imports the DICOM gateway (pynetdicom) and :mod:`archive.convert` when it
runs, so that `--help` and the other commands start without them."""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from archive import (
    Actor,
    Archive,
    ArchiveError,
    ArchiveSettings,
    NodeRole,
    valid_ae_title,
)
from photopacs.capture import build_capture, capture_options, is_media
from photopacs.common import (
    EXIT_PROBLEMS,
    checked,
    fail,
    files,
    json_option,
    open_archive,
    operator,
)
from photopacs.settings import ServeSettings

if TYPE_CHECKING:
    from dicom_gateway.scu import SendResult


def _destination(to: str, host: str | None, port: int | None) -> tuple[str, int, bool]:
    """Address, port and whether to transcode for the node (registry unless given)."""
    if host and port:
        return host, port, True
    try:
        with Archive.open(ArchiveSettings()) as archive:
            node = archive.node(to)
    except (ArchiveError, ValueError) as exc:
        fail(f"cannot look up {to} in the node registry: {exc}")
    if node is None:
        fail(f"{to} is not a registered node (photopacs node add), or give --host and --port")
    return host or node.host, port or node.port, node.transcode


@click.command("send")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--to",
    "to",
    required=True,
    callback=checked(valid_ae_title),
    help="AE title of the destination node.",
)
@click.option("--host", default=None, help="Its address (default: from the node registry).")
@click.option("--port", type=int, default=None, help="Its port (default: from the registry).")
@click.option(
    "--aet",
    default=None,
    callback=checked(valid_ae_title),
    help="Our (calling) AE title [PHOTOPACS_AET].",
)
@click.option(
    "--commit",
    is_flag=True,
    help="Request storage commitment and wait for the report (same or new association; "
    "recorded in the index, see `photopacs commitment sent`).",
)
@click.option(
    "--commit-timeout", default=120.0, show_default=True, help="Seconds to wait for the report."
)
@click.option("--tls", is_flag=True, help="DICOM over TLS (PHOTOPACS_DICOM_TLS_* settings).")
@capture_options
def send(
    paths: tuple[Path, ...],
    to: str,
    host: str | None,
    port: int | None,
    aet: str | None,
    commit: bool,
    commit_timeout: float,
    tls: bool,
    **options: Any,
) -> None:
    """Send DICOM files, photos and videos (converted first, see `photopacs convert`)
    to a DICOM node over one association; with --commit, exit 0 only when the
    node has committed to keeping every object (PS3.4 J.3)."""
    from archive.convert import ConversionError
    from dicom_gateway import GatewaySettings
    from dicom_gateway.commitment_index import IndexedCommitment
    from dicom_gateway.scu import Destination, Item, Sender, SendError, inspect
    from dicom_gateway.tls import client_context

    try:
        gateway_settings = GatewaySettings()
        serve_settings = ServeSettings()
        our_aet = aet or serve_settings.aet
        uid_root = ArchiveSettings().uid_root
    except ValueError as exc:
        fail(f"invalid setting: {exc}")
    address, dicom_port, transcode = _destination(to, host, port)
    context = None
    if tls:
        context = client_context(
            ca=gateway_settings.dicom_tls_ca,
            cert=gateway_settings.dicom_tls_cert,
            key=gateway_settings.dicom_tls_key,
        )
    refused: list[tuple[Path, str]] = []
    with contextlib.ExitStack() as stack:
        tracker = None
        if commit:  # recorded before the N-ACTION; the report may come on a new association
            try:
                archive = stack.enter_context(Archive.open(ArchiveSettings()))
            except (ArchiveError, ValueError) as exc:
                fail(f"--commit records the request in the archive's index, which failed: {exc}")
            tracker = stack.enter_context(
                IndexedCommitment(
                    archive,
                    requester=Actor.operator(operator()),
                    listen=(serve_settings.bind_host, serve_settings.dicom_port),
                )
            )
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="photopacs-send-"))
        items: list[Item] = []
        capture = None
        for path in files(paths):
            try:
                if is_media(path):
                    if capture is None:
                        capture = build_capture(options, uid_root=uid_root)
                    for ds in capture.convert(path):
                        target = Path(tmp) / f"{ds.SOPInstanceUID}.dcm"
                        ds.save_as(target, enforce_file_format=True)
                        items.append(inspect(target))
                else:
                    items.append(inspect(path))
            except ConversionError as exc:
                refused.append((path, exc.reason))
            except Exception as exc:  # not a Part 10 file
                refused.append((path, f"not a DICOM file: {type(exc).__name__}"))
        destination = Destination(ae_title=to, host=address, port=dicom_port, tls=context)
        with click.progressbar(
            length=len(items), label=f"sending to {to}", file=sys.stderr, show_pos=True
        ) as bar:
            try:
                result = Sender(our_aet, commitments=tracker).send(
                    items,
                    destination,
                    commit=commit,
                    commit_timeout=commit_timeout,
                    progress=lambda _item: bar.update(1),
                    transcode=transcode,
                )
            except SendError as exc:
                fail(str(exc))
            except ArchiveError as exc:  # recording the commitment request in the index
                fail(f"storage commitment: {exc}")
    click.echo(f"sent {len(result.sent)}, failed {len(result.failed)}, refused {len(refused)}")
    if result.transcoded:
        click.echo(
            f"  {len(result.transcoded)} decoded to Explicit VR Little Endian: "
            f"{to} does not accept their stored transfer syntax"
        )
    for item, status, comment in result.failed:
        code = f"0x{status:04X} " if status >= 0 else ""
        click.echo(f"  failed {item.path.name}: {code}{comment}")
    for path, reason in refused:
        click.echo(f"  refused {path}: {reason}")
    if commit:
        _commit_summary(result, tracker.where if tracker else "")
    problems = result.failed or refused or (commit and result.not_committed)
    if problems:
        sys.exit(EXIT_PROBLEMS)


def _commit_summary(result: SendResult, where: str) -> None:
    click.echo(f"committed {len(result.committed)}, not committed {len(result.not_committed)}")
    for uid, reason in result.failure_reasons.items():
        if result.commit_answered:
            why = f"failure reason 0x{reason:04X}" if reason is not None else "not in the report"
            click.echo(f"  not committed {uid}: {why}")
    if result.commit_status == "refused":
        click.echo(f"  storage commitment refused: {result.commit_note}", err=True)
    elif not result.commit_answered and result.transaction_uid:
        click.echo("  no storage commitment report arrived in time", err=True)
        if where:
            click.echo(f"  (a report on a new association was expected at {where})", err=True)
        click.echo(
            f"  transaction {result.transaction_uid} is kept as timed-out; a late report is "
            "still recorded (photopacs commitment sent)",
            err=True,
        )


@click.group()
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
        info = archive.add_node(
            ae_title,
            host=host,
            port=port,
            role=role,
            check_address=check_address,
            transcode=transcode,
            description=description,
            requester=Actor.operator(operator()),
        )
    click.echo(f"added {info.ae_title} ({info.role}) at {info.host}:{info.port}")


@node.command("list")
@json_option
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
        archive.remove_node(ae_title, requester=Actor.operator(operator()))
    click.echo(f"removed {ae_title.strip()}")
