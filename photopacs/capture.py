"""Command-line options that describe who a photo or video is of and where it
belongs, shared by `photopacs convert`, `photopacs import` and `photopacs send`.

:mod:`archive.convert` (and PyAV with it) is imported when a file is looked at,
not when the command line starts: `--help` and the other commands never need it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from archive.convert import CaptureContext, Demographics

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS: list[Callable[[F], F]] = [
    click.option("--patient-id", help="Patient ID (required for photos and video)."),
    click.option("--patient-name", default="", help="DICOM person name, Family^Given."),
    click.option(
        "--birth-date",
        type=click.DateTime(formats=["%Y-%m-%d", "%Y%m%d"]),
        help="Date of birth (YYYY-MM-DD).",
    ),
    click.option("--sex", type=click.Choice(["M", "F", "O"]), help="Patient sex."),
    click.option("--study-uid", help="Add to this existing study (default: a new one)."),
    click.option("--accession", help="Accession number of the encounter."),
    click.option("--study-description", help="e.g. 'Dermatology clinic'."),
    click.option("--series-description", help="e.g. 'Lesion photos'."),
    click.option("--body-site", help="Body site by name, e.g. 'left forearm'."),
    click.option("--operator", "operators", multiple=True, help="Photographer (repeatable)."),
    click.option("--frame", "frames", type=int, multiple=True, help="Video frame to keep (1-).."),
    click.option(
        "--frame-time",
        "frame_times",
        type=float,
        multiple=True,
        help="Video time in seconds to keep as a still (repeatable).",
    ),
    click.option(
        "--allow-transcode",
        is_flag=True,
        help="Re-encode video that fits no DICOM video transfer syntax (lossy, derived).",
    ),
    click.option(
        "--no-trim",
        is_flag=True,
        help="Refuse a rotated JPEG that cannot be turned upright without trimming an "
        "edge block (default: trim, and say so in the object).",
    ),
]


def capture_options(func: F) -> F:
    for option in reversed(_OPTIONS):
        func = option(func)
    return func


@dataclass
class Capture:
    """One capture session: every file converted with it lands in one series."""

    demographics: Demographics
    context: CaptureContext
    frames: tuple[int, ...]
    frame_times: tuple[float, ...]
    allow_transcode: bool
    allow_trim: bool

    def convert(self, path: Path) -> list[Dataset]:
        """Convert one file; chosen frames apply to videos only."""
        from archive.convert import MediaKind, convert_file, sniff

        video = sniff(path) is MediaKind.VIDEO
        datasets = convert_file(
            path,
            demographics=self.demographics,
            context=self.context,
            frame_numbers=self.frames if video else (),
            frame_times=self.frame_times if video else (),
            allow_trim=self.allow_trim,
            allow_transcode=self.allow_transcode,
        )
        self.context = self.context.next_instance(len(datasets))
        return datasets


def is_media(path: Path) -> bool:
    from archive.convert import sniff

    try:
        return sniff(path) is not None
    except OSError:
        return False


def build_capture(options: dict[str, Any], *, uid_root: str | None) -> Capture:
    """Validate the options once, before any file is touched."""
    from archive.convert import CaptureContext, ConversionError, Demographics

    if not options.get("patient_id"):
        raise click.UsageError("photos and video need --patient-id")
    birth: dt.datetime | None = options.get("birth_date")
    try:
        demographics = Demographics(
            patient_id=options["patient_id"],
            name=options.get("patient_name") or "",
            birth_date=birth.date() if birth else None,
            sex=options.get("sex"),
        )
        context = CaptureContext(
            study_instance_uid=options.get("study_uid"),
            accession_number=options.get("accession"),
            study_description=options.get("study_description"),
            series_description=options.get("series_description"),
            body_site=options.get("body_site"),
            operators=tuple(options.get("operators") or ()),
            uid_root=uid_root,
        ).with_uids()
    except ConversionError as exc:
        raise click.UsageError(str(exc)) from exc
    return Capture(
        demographics=demographics,
        context=context,
        frames=tuple(options.get("frames") or ()),
        frame_times=tuple(options.get("frame_times") or ()),
        allow_transcode=bool(options.get("allow_transcode")),
        allow_trim=not options.get("no_trim"),
    )


CAPTURE_KEYS = (
    "patient_id", "patient_name", "birth_date", "sex", "study_uid", "accession",
    "study_description", "series_description", "body_site", "operators", "frames",
    "frame_times", "allow_transcode", "no_trim",
)  # fmt: skip
