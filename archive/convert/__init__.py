"""Photos and clinical video -> DICOM Visible Light objects (pure: bytes in, datasets out).

* JPEG -> VL Photographic Image with the camera's bitstream kept (JPEG Baseline),
  privacy-leaking metadata stripped, turned upright losslessly.
* PNG, TIFF, HEIC -> VL Photographic Image stored losslessly as 8-bit RGB.
* MP4/MOV with H.264 or HEVC -> Video Photographic Image wrapping the stream;
  chosen frames -> VL Photographic Images referencing the video.
* Derived images (crop, rotate, contrast, colour balance) -> new DERIVED instances.

No network, no database, no file writes: callers store what they get back.
"""

from .api import DEFAULT_MAX_BYTES, MediaKind, convert_bytes, convert_file, sniff
from .budget import MemoryBudget, working_memory
from .common import CaptureContext, Demographics, make_uid
from .derive import ColourBalance, Contrast, Crop, Operation, Rotate, derive_image, extract_frames
from .errors import ConversionError, ImageTooLarge, UnsupportedInput
from .photo import DEFAULT_MAX_PIXELS
from .sites import KNOWN_SITES, BodySite, resolve_body_site

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "KNOWN_SITES",
    "BodySite",
    "CaptureContext",
    "ColourBalance",
    "Contrast",
    "ConversionError",
    "Crop",
    "Demographics",
    "ImageTooLarge",
    "MediaKind",
    "MemoryBudget",
    "Operation",
    "Rotate",
    "UnsupportedInput",
    "convert_bytes",
    "convert_file",
    "derive_image",
    "extract_frames",
    "make_uid",
    "resolve_body_site",
    "sniff",
    "working_memory",
]
