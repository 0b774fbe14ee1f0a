"""DICOM over TLS (PS3.15 B.1, the Basic TLS Secure Transport Connection
Profile, and B.9 "BCP 195"): TLS 1.2 or later, our certificate and key,
optionally client certificates that must chain to a configured CA."""

from __future__ import annotations

import ssl
from pathlib import Path

from dicom_gateway.settings import GatewaySettings


def server_context(settings: GatewaySettings) -> ssl.SSLContext:
    """The listener's context; requires a client certificate when configured."""
    if settings.dicom_tls_cert is None or settings.dicom_tls_key is None:
        raise ValueError("DICOM TLS needs PHOTOPACS_DICOM_TLS_CERT and PHOTOPACS_DICOM_TLS_KEY")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(settings.dicom_tls_cert), str(settings.dicom_tls_key))
    if settings.dicom_tls_ca is not None:
        context.load_verify_locations(cafile=str(settings.dicom_tls_ca))
    if settings.dicom_tls_verify_client:
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(
    *,
    ca: Path | None,
    cert: Path | None = None,
    key: Path | None = None,
    verify: bool = True,
) -> ssl.SSLContext:
    """A context for our SCU (send, move, reports): verifies the server against
    ``ca`` (or the system store) and presents ``cert`` when given."""
    context = ssl.create_default_context(
        ssl.Purpose.SERVER_AUTH, cafile=str(ca) if ca is not None else None
    )
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert is not None:
        context.load_cert_chain(str(cert), str(key) if key is not None else None)
    return context
