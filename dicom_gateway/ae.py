"""The gateway's Application Entity: presentation contexts, handlers, listeners.

:func:`build_ae` configures a pynetdicom AE for the archive's DICOM services and
returns it with the event handlers bound to one archive; :class:`Gateway`
runs the plain listener (and, when configured, a DICOM-over-TLS one) in
background threads and stops them cleanly.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, _config, evt
from pynetdicom.events import Event, EventHandlerType
from pynetdicom.transport import ThreadedAssociationServer

from archive import Archive
from dicom_gateway.associations import Peers
from dicom_gateway.commitment import CommitmentHandler
from dicom_gateway.commitment_index import ReportReceiver
from dicom_gateway.qr import QrHandlers
from dicom_gateway.settings import GatewaySettings
from dicom_gateway.sop import (
    COMMITMENT,
    QR_MODELS,
    STORAGE,
    UNCOMPRESSED,
    VERIFICATION,
    Service,
    syntaxes_for,
)
from dicom_gateway.statuses import REFUSED, Status
from dicom_gateway.store import StoreHandler
from dicom_gateway.tls import server_context

log = logging.getLogger(__name__)


def configure_pynetdicom() -> None:
    """Process-wide pynetdicom switches: stream C-STORE data sets to disk
    (no 2 GB video in memory) and never log identifiers (patient names)."""
    _config.STORE_RECV_CHUNKED_DATASET = True
    _config.LOG_REQUEST_IDENTIFIERS = False
    _config.LOG_RESPONSE_IDENTIFIERS = False


class Listener(ThreadedAssociationServer):
    """pynetdicom's threaded association server, with TCP_NODELAY on every
    accepted connection. Without it a small DIMSE response waits for the
    peer's delayed ACK (Nagle): about 40 ms added to every C-FIND on loopback."""

    reuse_port = False  # SO_REUSEPORT: several processes share the port (Linux)

    def server_bind(self) -> None:
        if self.reuse_port and self.socket is not None:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        client, address = super().get_request()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return client, address

    def shutdown(self) -> None:
        # Not registered in the AE's own server list (see Gateway.start).
        socketserver.BaseServer.shutdown(self)
        self.server_close()


class SharedListener(Listener):
    """A listener whose port other photopacs processes listen on too; the
    kernel spreads new associations over them (``PHOTOPACS_DICOM_WORKERS``)."""

    reuse_port = True


@dataclass
class Bound:
    """An AE and the handlers bound to one archive."""

    ae: AE
    handlers: list[EventHandlerType]
    peers: Peers
    commitment: CommitmentHandler


def build_ae(
    settings: GatewaySettings,
    archive: Archive,
    *,
    aet: str,
) -> Bound:
    """An AE accepting echo, storage (PS3.4 B), Q/R (C) and storage commitment (J):
    requests from cameras, and reports on the requests we sent."""
    configure_pynetdicom()
    ae = AE(ae_title=aet)
    ae.maximum_associations = settings.dicom_max_associations
    ae.network_timeout = settings.dicom_network_timeout
    ae.acse_timeout = 30
    ae.dimse_timeout = 60
    ae.maximum_pdu_size = settings.dicom_max_pdu
    ae.require_called_aet = False  # Peers checks: our AE title or the review AE title
    ae.add_supported_context(VERIFICATION, UNCOMPRESSED)
    for sop_class in STORAGE:
        # SCP for C-STORE, encapsulated syntaxes preferred for pixel data (the
        # camera's bitstream is kept); role selection lets an EPR take the SCP
        # role for C-GET (reordered per association by what is stored: Peers).
        ae.add_supported_context(
            sop_class, list(syntaxes_for(sop_class)), scu_role=True, scp_role=True
        )
    for model in QR_MODELS:
        ae.add_supported_context(model, UNCOMPRESSED)
    ae.add_supported_context(COMMITMENT, UNCOMPRESSED)

    peers = Peers(archive, aet=aet, review_aet=settings.review_aet)
    store = StoreHandler(archive, peers)
    qr = QrHandlers(archive, peers, aet=aet)
    commitment = CommitmentHandler(
        archive,
        peers,
        aet=aet,
        retry_interval=settings.commitment_retry_interval,
        max_attempts=settings.commitment_max_attempts,
    )

    def handle_echo(event: Event) -> int | Dataset:
        """PS3.7 9.1.5 C-ECHO: any known node may verify."""
        return int(Status.SUCCESS) if peers.authorise(event, Service.ECHO) else REFUSED.dataset()

    handlers: list[EventHandlerType] = [
        (evt.EVT_REQUESTED, peers.handle_requested),
        (evt.EVT_C_ECHO, handle_echo),
        (evt.EVT_C_STORE, store),
        (evt.EVT_C_FIND, qr.handle_find),
        (evt.EVT_C_MOVE, qr.handle_move),
        (evt.EVT_C_GET, qr.handle_get),
        (evt.EVT_N_ACTION, commitment),
        # Results of the storage commitments we asked for (photopacs send --commit).
        (evt.EVT_N_EVENT_REPORT, ReportReceiver(archive, peers)),
        (evt.EVT_DIMSE_SENT, qr.handle_sent),
    ]
    return Bound(ae=ae, handlers=handlers, peers=peers, commitment=commitment)


class Gateway:
    """The DICOM listeners of `photopacs serve`."""

    def __init__(
        self,
        settings: GatewaySettings,
        archive: Archive,
        *,
        aet: str,
    ) -> None:
        self.settings = settings
        self.bound = build_ae(settings, archive, aet=aet)
        self._servers: list[Any] = []

    def start(self, host: str, port: int, *, shared: bool = False, tls: bool = True) -> None:
        """Listen on ``port`` (and on the TLS port when configured and ``tls``);
        returns at once. ``shared``: other processes listen on the same port."""
        ae = self.bound.ae
        self._listen((host, port), None, shared=shared)
        log.warning("photopacs DICOM %s on %s:%d", ae.ae_title, host, self.ports[-1])
        if tls and self.settings.dicom_tls_port is not None:
            context = server_context(self.settings)
            self._listen((host, self.settings.dicom_tls_port), context)
            log.warning("photopacs DICOM over TLS on %s:%d", host, self.settings.dicom_tls_port)

    def _listen(
        self, address: tuple[str, int], context: ssl.SSLContext | None, *, shared: bool = False
    ) -> None:
        server = self.bound.ae.make_server(
            address,
            ssl_context=context,
            evt_handlers=self.bound.handlers,
            server_class=SharedListener if shared else Listener,
        )
        thread = threading.Thread(
            target=server.serve_forever, name=f"dicom-listener-{address[1]}", daemon=True
        )
        thread.start()
        self._servers.append(server)

    @property
    def ports(self) -> list[int]:
        return [int(s.server_address[1]) for s in self._servers]

    def stop(self, grace: float = 10.0) -> None:
        """Stop accepting, let associations end, finish commitment reports."""
        for server in self._servers:
            server.shutdown()
        self._servers.clear()
        ae = self.bound.ae
        deadline = time.monotonic() + grace
        while ae.active_associations and time.monotonic() < deadline:
            time.sleep(0.05)
        self.bound.commitment.wait(max(0.0, deadline - time.monotonic()))
        ae.shutdown()
