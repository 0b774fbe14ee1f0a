"""`photopacs serve`: the HTTP server (health, later the viewer and
DICOMweb) and, once the gateway lands, the DICOM listener; stops cleanly on
SIGTERM and SIGINT."""

from __future__ import annotations

import logging

import uvicorn

from archive import Archive
from photopacs.settings import ServeSettings
from web_viewer import create_app

log = logging.getLogger(__name__)


def run(archive: Archive, settings: ServeSettings) -> None:
    app = create_app(archive)
    config = uvicorn.Config(
        app,
        host=settings.bind_host,
        port=settings.http_port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    log.warning("photopacs HTTP on %s:%d", settings.bind_host, settings.http_port)
    server.run()  # installs SIGTERM/SIGINT handlers and returns after a graceful stop
