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
    bind_host: str = Field(
        default="127.0.0.1",
        description="Address the DICOM and HTTP listeners bind to (0.0.0.0 for all).",
    )
