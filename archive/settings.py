"""Archive settings (environment prefix ``PHOTOPACS_``).

Built once by the caller and passed in; nothing reads the environment at
import time.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
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
    lockout_attempts: int = Field(
        default=5, gt=0, description="Failed sign-ins in a row that lock an account."
    )
    lockout_minutes: int = Field(
        default=15, gt=0, description="How long a locked account stays locked."
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
