"""A memory ceiling for conversions running at once in one process.

Each conversion reserves, before it decodes anything, an estimate of the memory
it will hold (read from the file's header: pixels times the bytes a decoder,
its copy and its encoder keep per pixel; for video, a few times the stream,
which is rewrapped, never decoded whole). A conversion whose estimate exceeds the
ceiling is refused at once; the others wait until what is running leaves room.
So a server converting uploads holds at most the ceiling in decoded pixels, however
many arrive together.
"""

from __future__ import annotations

import io
import struct
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image

from . import jpeg
from .api import MediaKind, sniff
from .errors import ConversionError, ImageTooLarge
from .photo import DEFAULT_MAX_PIXELS, check_pixels

# Bytes held per pixel while converting: a JPEG is turned upright on its DCT
# coefficients (two bytes per sample, three samples); a PNG, TIFF or HEIC is
# decoded (up to 16-bit RGBA), converted to 8-bit RGB and encoded: about three copies.
JPEG_BYTES_PER_PIXEL = 6
RASTER_BYTES_PER_PIXEL = 24
VIDEO_COPIES = 3  # the upload, the rewrapped stream, the encoded DICOM object
MiB = 1024 * 1024


def working_memory(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> int:
    """Estimated bytes a conversion of ``data`` holds at its peak, from its header;
    a picture declaring more than ``max_pixels`` is refused here already."""
    kind = sniff(data[:64])
    size = _dimensions(data, kind)
    if size is None:
        return VIDEO_COPIES * len(data)
    check_pixels(*size, max_pixels)
    per_pixel = JPEG_BYTES_PER_PIXEL if kind is MediaKind.JPEG else RASTER_BYTES_PER_PIXEL
    return max(size[0] * size[1] * per_pixel, len(data))


def _dimensions(data: bytes, kind: MediaKind | None) -> tuple[int, int] | None:
    """Width and height as the header declares them (None for video or unreadable)."""
    try:
        if kind is MediaKind.JPEG:
            frame = jpeg.parse(data).frame
            return frame.columns, frame.rows
        if kind is MediaKind.PNG and len(data) >= 24 and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return int(width), int(height)
        if kind is MediaKind.TIFF:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(data), formats=["TIFF"]) as im:
                    return im.size
        if kind is MediaKind.HEIC:
            import pillow_heif

            width, height = pillow_heif.open_heif(io.BytesIO(data)).size
            return int(width), int(height)
    except (ConversionError, OSError, ValueError, Image.DecompressionBombError):
        return None  # the converter itself says what is wrong with it
    return None


class MemoryBudget:
    """Bytes the conversions of one process may hold at once (a counting gate)."""

    def __init__(self, limit: int) -> None:
        if limit <= 0:
            raise ValueError("a memory budget must be positive")
        self.limit = limit
        self.used = 0
        self._room = threading.Condition()

    @contextmanager
    def reserve(self, nbytes: int) -> Iterator[None]:
        """Hold ``nbytes`` of the budget for the block, waiting for room; a request
        larger than the whole budget is refused (:class:`ImageTooLarge`)."""
        if nbytes > self.limit:
            raise ImageTooLarge(
                f"converting it needs about {-(-nbytes // MiB)} MiB of memory; this server "
                f"allows {self.limit // MiB} MiB for conversions"
            )
        with self._room:
            self._room.wait_for(lambda: self.used + nbytes <= self.limit)
            self.used += nbytes
        try:
            yield
        finally:
            with self._room:
                self.used -= nbytes
                self._room.notify_all()
