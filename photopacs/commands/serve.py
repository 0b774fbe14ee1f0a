"""`photopacs serve`: the archive's network services (:mod:`photopacs.server`)."""

from __future__ import annotations

from typing import Any

import click

from photopacs.common import fail, open_archive


@click.command()
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
