"""Settings of the DICOM gateway (environment prefix ``PHOTOPACS_``).

Our AE title, port and bind address live in the composed server's settings
(``photopacs.settings.ServeSettings``); this class holds what only the DICOM
edge needs. Built once by the caller and passed in; nothing is read at
import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    """Association limits, timeouts and DICOM over TLS (PS3.15 B.1)."""

    model_config = SettingsConfigDict(env_prefix="PHOTOPACS_", extra="ignore")

    dicom_max_associations: int = Field(
        default=16, gt=0, description="Most DICOM associations served at once."
    )
    dicom_network_timeout: float = Field(
        default=60.0, gt=0, description="Seconds a DICOM association may sit idle."
    )
    dicom_max_pdu: int = Field(
        default=131072,
        ge=0,
        description="Largest P-DATA PDU we receive, in bytes (0 = unlimited).",
    )
    dicom_tls_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Port of an additional DICOM-over-TLS listener (off unless set).",
    )
    dicom_tls_cert: Path | None = Field(
        default=None, description="PEM certificate (chain) of our TLS listener."
    )
    dicom_tls_key: Path | None = Field(default=None, description="PEM private key of it.")
    dicom_tls_ca: Path | None = Field(
        default=None,
        description="PEM CA bundle that client certificates (and servers we call) must chain to.",
    )
    dicom_tls_verify_client: bool = Field(
        default=False,
        description="Require a client certificate signed by the CA bundle on the TLS listener.",
    )
    review_aet: str = Field(
        default="PHOTOPACS_REVIEW",
        max_length=16,
        description="AE title of the governance review path: governance nodes calling it "
        "find, move and get held and quarantined objects only (empty: no review path).",
    )
    propagation_interval: float = Field(
        default=30.0,
        gt=0,
        description="Seconds between rounds of sending owed IOCM rejection notes to peers; "
        "a failed send is retried after this long, doubling each time up to an hour.",
    )
    forward_interval: float = Field(
        default=10.0,
        gt=0,
        description="Seconds between auto-forwarding rounds; a failed send is retried after "
        "this, doubling each time (at most an hour).",
    )
    forward_max_attempts: int = Field(
        default=10,
        gt=0,
        description="Send attempts before a forwarding job is marked failed.",
    )
    commitment_retry_interval: float = Field(
        default=15.0,
        gt=0,
        description="Seconds between retries of storage-commitment reports a camera has "
        "not received yet (doubling each time, at most an hour).",
    )
    commitment_max_attempts: int = Field(
        default=20,
        gt=0,
        description="Delivery attempts before a storage-commitment report is marked failed.",
    )

    @model_validator(mode="after")
    def _tls_complete(self) -> Self:
        if self.dicom_tls_port is not None and (
            self.dicom_tls_cert is None or self.dicom_tls_key is None
        ):
            raise ValueError(
                "PHOTOPACS_DICOM_TLS_PORT needs PHOTOPACS_DICOM_TLS_CERT "
                "and PHOTOPACS_DICOM_TLS_KEY"
            )
        if self.dicom_tls_verify_client and self.dicom_tls_ca is None:
            raise ValueError("PHOTOPACS_DICOM_TLS_VERIFY_CLIENT needs PHOTOPACS_DICOM_TLS_CA")
        return self
