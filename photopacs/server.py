"""`photopacs serve`: the HTTP server (health, later the viewer and
DICOMweb) and the DICOM listener (plus DICOM over TLS when configured).

SIGTERM and SIGINT stop both cleanly: in-flight requests and associations
finish, listeners close, the process exits 0 (uvicorn's own handling would
re-raise the signal after shutdown, which looks like a crash to a supervisor).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import sys
from collections.abc import Iterator
from types import FrameType

import click
import uvicorn

from archive import Archive
from dicom_gateway import Gateway, GatewaySettings
from dicom_gateway.commitment import ReportSender
from dicom_gateway.forwarding import Forwarder
from dicom_gateway.propagation import Propagator
from photopacs.dicom_worker import die_with_parent
from photopacs.settings import ServeSettings
from web_viewer import create_app

log = logging.getLogger(__name__)


class _HttpServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # signals are ours (see run)


def _start_workers(settings: ServeSettings, port: int) -> list[subprocess.Popen[bytes]]:
    """The extra DICOM receiving processes, on the port the main process bound."""
    command = [
        sys.executable,
        "-m",
        "photopacs.dicom_worker",
        "--aet",
        settings.aet,
        "--host",
        settings.bind_host,
        "--port",
        str(port),
    ]
    workers = [
        subprocess.Popen(command, preexec_fn=die_with_parent)
        for _ in range(settings.dicom_workers - 1)
    ]
    log.warning("photopacs DICOM: %d more receiving processes on port %d", len(workers), port)
    return workers


def _stop_workers(workers: list[subprocess.Popen[bytes]], grace: float = 15.0) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def run(
    archive: Archive, settings: ServeSettings, *, gateway_settings: GatewaySettings | None = None
) -> None:
    if gateway_settings is None:
        try:
            gateway_settings = GatewaySettings()
        except ValueError as exc:
            click.echo(f"photopacs: invalid setting: {exc}", err=True)
            raise click.exceptions.Exit(3) from None
    gateway = Gateway(gateway_settings, archive, aet=settings.aet)
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
    shared = settings.dicom_workers > 1
    try:
        gateway.start(settings.bind_host, settings.dicom_port, shared=shared)
    except OSError as exc:
        gateway.stop(grace=0)
        click.echo(
            f"photopacs: cannot listen for DICOM on {settings.bind_host}:{settings.dicom_port}: "
            f"{exc.strerror or exc}",
            err=True,
        )
        raise click.exceptions.Exit(3) from None
    workers = _start_workers(settings, gateway.ports[0]) if shared else []
    propagator = Propagator(
        archive, aet=settings.aet, interval=gateway_settings.propagation_interval
    )
    propagator.start()
    forwarder = Forwarder(
        archive,
        aet=settings.aet,
        interval=gateway_settings.forward_interval,
        max_attempts=gateway_settings.forward_max_attempts,
    )
    forwarder.start()
    reports = ReportSender(
        archive,
        aet=settings.aet,
        interval=gateway_settings.commitment_retry_interval,
        max_attempts=gateway_settings.commitment_max_attempts,
    )
    reports.start()
    try:
        log.warning("photopacs HTTP on %s:%d", settings.bind_host, settings.http_port)
        server.run()
    finally:
        _stop_workers(workers)
        reports.stop()
        forwarder.stop()
        propagator.stop()
        gateway.stop()
    log.warning("photopacs stopped")
