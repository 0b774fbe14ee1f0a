"""`photopacs import` (store files, photos and videos in the archive) and
`photopacs convert` (photos and videos to DICOM files, stored nowhere).

:mod:`archive.convert` is imported by the commands that use it, not at start-up."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import click
from pydicom.dataset import Dataset

from archive import Actor, ArchiveError, Origin
from photopacs.capture import Capture, build_capture, capture_options, is_media
from photopacs.common import EXIT_PROBLEMS, archive_settings, files, open_archive, operator


def _encode(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@capture_options
def import_(paths: tuple[Path, ...], **options: Any) -> None:
    """Ingest DICOM files, photos (JPEG, PNG, TIFF, HEIC) and videos (MP4, MOV), or
    folders of them. Photos and videos are converted first (see `photopacs convert`)
    and need --patient-id; files of one run form one capture session (one series)."""
    from archive.convert import ConversionError

    found = files(paths)
    stored = duplicates = 0
    refused: list[tuple[Path, str]] = []
    origin = Origin(Actor.operator(operator()), received_from="import")
    media = {path for path in found if is_media(path)}
    capture: Capture | None = None
    with (
        open_archive() as archive,
        click.progressbar(found, label="importing", file=sys.stderr, show_pos=True) as bar,
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


@click.command()
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
    from archive.convert import ConversionError

    capture = build_capture(options, uid_root=archive_settings().uid_root)
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    failed: list[tuple[Path, str]] = []
    for path in files(inputs):
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
