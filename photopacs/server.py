"""`photopacs serve`: the HTTP server (health, later the viewer and
DICOMweb) and, once the gateway lands, the DICOM listener.

SIGTERM and SIGINT stop it cleanly: in-flight requests finish, listeners
close, the process exits 0 (uvicorn's own handling would re-raise the
signal after shutdown, which looks like a crash to a supervisor).
"""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Iterator
from types import FrameType

import uvicorn

from archive import Archive
from photopacs.settings import ServeSettings
from web_viewer import create_app

log = logging.getLogger(__name__)


class _HttpServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # signals are ours (see run)


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
    server = _HttpServer(config)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.warning("signal %d: shutting down", signum)
        server.should_exit = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.warning("photopacs HTTP on %s:%d", settings.bind_host, settings.http_port)
    server.run()
    log.warning("photopacs stopped")
