"""Web viewer settings (environment prefix ``PHOTOPACS_``), built once by
:func:`web_viewer.create_app` or its caller; nothing is read at import time."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebSettings(BaseSettings):
    """How the viewer treats cookies, uploads and its render cache."""

    model_config = SettingsConfigDict(env_prefix="PHOTOPACS_", extra="ignore")

    max_upload_bytes: int = Field(
        default=512 * 1024**2,
        gt=0,
        description="Largest photo or video upload the viewer accepts, in bytes (512 MiB).",
    )
    max_image_pixels: int = Field(
        default=100_000_000,
        gt=0,
        description=(
            "Most pixels (width x height, read from the header) of a picture the viewer "
            "decodes, in an upload or to render a stored object; larger ones are refused "
            "without being decoded (100 megapixels; Pillow's own bomb limit is 179)."
        ),
    )
    conversion_memory_bytes: int = Field(
        default=2 * 1024**3,
        gt=0,
        description=(
            "Memory the viewer's conversions of uploads may hold at once, estimated from "
            "each file's header before decoding (2 GiB); a file that alone needs more is "
            "refused, others wait their turn."
        ),
    )
    cookie_secure: Literal["auto", "always", "never"] = Field(
        default="auto",
        description=(
            "Mark session cookies Secure: `auto` when the request came over HTTPS, "
            "`always` behind a TLS-terminating proxy, `never` for plain-HTTP tests."
        ),
    )
    thumbnail_pixels: int = Field(
        default=320, ge=64, le=1024, description="Longest side of a thumbnail, in pixels."
    )
