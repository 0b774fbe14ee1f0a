"""Settings of the composed server (environment prefix ``PHOTOPACS_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServeSettings(BaseSettings):
    """Where `photopacs serve` listens."""

    model_config = SettingsConfigDict(env_prefix="PHOTOPACS_", extra="ignore")

    aet: str = Field(
        default="PHOTOPACS", min_length=1, max_length=16, description="Our DICOM AE title."
    )
    dicom_port: int = Field(default=11112, ge=0, le=65535, description="DICOM listening port.")
    http_port: int = Field(default=8000, ge=0, le=65535, description="HTTP listening port.")
    dicom_workers: int = Field(
        default=1,
        ge=1,
        le=32,
        description="DICOM receiving processes sharing the DICOM port (SO_REUSEPORT, Linux): "
        "more than 1 spreads associations over several CPU cores. The extra processes "
        "serve the plain DICOM port only; TLS, HTTP and the background senders stay in the "
        "main process.",
    )
    bind_host: str = Field(
        default="127.0.0.1",
        description="Address the DICOM and HTTP listeners bind to (0.0.0.0 for all).",
    )
