"""Archive settings (environment prefix ``PHOTOPACS_``).

Built once by the caller and passed in; nothing reads the environment at
import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ArchiveSettings(BaseSettings):
    """Where the archive keeps its data and how much it accepts."""

    model_config = SettingsConfigDict(env_prefix="PHOTOPACS_", extra="ignore")

    data_dir: Path = Field(
        default=Path("./data"),
        description="Folder for stored objects (and the SQLite index by default).",
    )
    database_url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy URL of the index. Default: SQLite file `index.sqlite3` in the data "
            "folder. PostgreSQL: `postgresql+psycopg://user@host:5432/db`."
        ),
    )
    max_object_bytes: int = Field(
        default=4 * 1024**3,
        gt=0,
        description="Largest single object the archive accepts, in bytes (default 4 GiB).",
    )
    min_free_bytes: int = Field(
        default=512 * 1024**2,
        ge=0,
        description=(
            "Ingest is refused (storage full) when the data folder's file system would "
            "have less than this many bytes free afterwards (default 512 MiB)."
        ),
    )
    identity_mismatch: Literal["refuse", "hold"] = Field(
        default="refuse",
        description=(
            "An object for a known Patient ID whose name, birth date or sex differ from "
            "the index: `refuse` it with the reason, or `hold` it for governance review "
            "with the differences shown (never stored silently)."
        ),
    )
    query_max_results: int = Field(
        default=10_000,
        gt=0,
        description="Most matches one query returns.",
    )

    session_idle_minutes: int = Field(
        default=15, gt=0, description="A web session ends after this many idle minutes."
    )
    session_max_hours: int = Field(
        default=10, gt=0, description="A web session ends this many hours after sign-in."
    )
    max_sessions_per_user: int = Field(
        default=5,
        gt=0,
        description=(
            "Most sessions one person may have at once; signing in beyond it ends their "
            "oldest session."
        ),
    )
    signin_backoff_after: int = Field(
        default=3,
        ge=0,
        description=(
            "Failed sign-ins in a row an account may have before each further one pauses "
            "signing in to it (back-off)."
        ),
    )
    signin_backoff_seconds: int = Field(
        default=1,
        gt=0,
        description="First back-off pause, in seconds; it doubles with each further failure.",
    )
    signin_backoff_max_seconds: int = Field(
        default=60,
        gt=0,
        description=(
            "Longest back-off pause, in seconds. With the defaults an account admits fewer "
            "than 70 password guesses an hour (ASVS 2.2.1: at most 100)."
        ),
    )
    signin_rate_limit: int = Field(
        default=30,
        gt=0,
        description=(
            "Failed sign-ins one client address (an IPv6 /64) may make within the window; "
            "beyond it every sign-in from there answers 429 until the window allows again."
        ),
    )
    signin_rate_window_seconds: int = Field(
        default=300, gt=0, description="The rate limit's sliding window, in seconds."
    )
    min_password_length: int = Field(
        default=12, ge=8, description="Shortest password accepted for a web account."
    )
    uid_root: str | None = Field(
        default=None,
        description=(
            "Organisation UID root for the UIDs photopacs makes (converted photos, consent "
            "documents); default: 2.25 UUID-derived UIDs."
        ),
    )

    @field_validator("uid_root")
    @classmethod
    def _uid_root(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip(".")
        parts = value.split(".")
        if len(value) > 40 or not all(p.isdigit() and (p == "0" or p[0] != "0") for p in parts):
            raise ValueError("PHOTOPACS_UID_ROOT must be a UID prefix of at most 40 characters")
        return value

    @model_validator(mode="after")
    def _backoff_cap(self) -> ArchiveSettings:
        if self.signin_backoff_max_seconds < self.signin_backoff_seconds:
            raise ValueError(
                "PHOTOPACS_SIGNIN_BACKOFF_MAX_SECONDS must not be less than "
                "PHOTOPACS_SIGNIN_BACKOFF_SECONDS"
            )
        return self

    @field_validator("database_url")
    @classmethod
    def _non_empty(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        return value

    def resolved_database_url(self) -> str:
        """The URL to connect to; SQLite in the data folder unless configured."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'index.sqlite3').resolve()}"
