"""A phone photo taken sideways, with GPS and a thumbnail, comes out upright and clean."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import generate_frames

from archive.convert import CaptureContext, Demographics, UnsupportedInput, convert_file
from archive.convert import jpeg as jp
from archive.convert.api import convert_bytes
from tests.archive.convert import makers
from tests.archive.convert.conftest import Validate
from tests.support import require_tool

# The test photo carries a deliberately minimal MPF segment, as phones write them.
pytestmark = pytest.mark.filterwarnings("ignore:Image appears to be a malformed MPO file")


def _bitstream(ds: pydicom.Dataset) -> bytes:
    return next(generate_frames(ds.PixelData, number_of_frames=1))


def _pillow(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


def _red_corner(rgb: np.ndarray) -> str:
    """Which corner holds the scene's red block (it is top-left when upright)."""
    h, w = rgb.shape[0] // 8, rgb.shape[1] // 8
    corners = {
        "top-left": rgb[:h, :w],
        "top-right": rgb[:h, -w:],
        "bottom-left": rgb[-h:, :w],
        "bottom-right": rgb[-h:, -w:],
    }
    redness = {k: float(v[..., 0].mean() - v[..., 1].mean()) for k, v in corners.items()}
    return max(redness, key=lambda k: redness[k])


@pytest.fixture
def private_photo_file(tmp_path: Path) -> Path:
    path = tmp_path / "IMG_0001.JPG"
    upright = makers.scene(64, 48)  # 4:2:0 MCUs are 16x16: 64x48 is MCU-aligned
    path.write_bytes(
        makers.private_photo(upright=upright, orientation=6, thumbnail=makers.thumbnail_jpeg())
    )
    return path


def test_gps_tagged_rotated_photo_is_upright_and_carries_no_private_data(
    private_photo_file: Path,
    demographics: Demographics,
    context: CaptureContext,
    validate: Validate,
) -> None:
    require_tool("jpegtran", "libjpeg-turbo-progs")
    source_bytes = private_photo_file.read_bytes()
    [ds] = convert_file(private_photo_file, demographics=demographics, context=context)
    path = validate(ds)
    written = path.read_bytes()

    # Nothing private anywhere in the file: GPS values, serial, owner, maker note,
    # XMP, comments, the EXIF block itself, the thumbnail, data appended after EOI.
    secrets = {
        "GPS latitude": makers.rationals(makers.GPS_LATITUDE),
        "GPS longitude": makers.rationals(makers.GPS_LONGITUDE),
        "serial": makers.SERIAL,
        "owner": makers.OWNER,
        "maker note": makers.MAKERNOTE,
        "XMP": makers.XMP_SECRET,
        "comment": makers.COMMENT,
        "EXIF": b"Exif\x00\x00",
        "thumbnail": makers.thumbnail_jpeg()[-200:],
        "trailer": b"TRAILING-SECOND-IMAGE",
    }
    for what, needle in secrets.items():
        assert needle in source_bytes, f"test photo lacks its {what}"
        assert needle not in written, f"{what} survived into the DICOM file"

    back = pydicom.dcmread(path)
    # Upright: the stored sideways 64x48-displayed photo now has 48 rows x 64 columns
    # with the red block at the top-left, in every decoder.
    assert (back.Rows, back.Columns) == (48, 64)
    assert _red_corner(back.pixel_array) == "top-left"
    assert _red_corner(_pillow(_bitstream(back))) == "top-left"
    assert back.ImageType == ["ORIGINAL", "PRIMARY"]
    assert "rotated 90° clockwise losslessly" in back.ImageComments
    # Decoding the stored stream == rotating the camera file's decode (IDCT rounding only).
    expected = np.rot90(_pillow(source_bytes), k=-1)
    assert np.abs(_pillow(_bitstream(back)) - expected).max() <= 4


def test_rotation_keeps_dct_coefficients(
    private_photo_file: Path, demographics: Demographics, context: CaptureContext
) -> None:
    """Undoing the rotation gives back the camera's coefficients exactly: jpegtran
    re-codes both to the same entropy-coded bytes, so nothing was re-quantised."""
    require_tool("jpegtran", "libjpeg-turbo-progs")
    source_bytes = private_photo_file.read_bytes()
    [ds] = convert_file(private_photo_file, demographics=demographics, context=context)
    undone = jp.jpegtran(["-rotate", "270"], _bitstream(ds))
    camera = jp.jpegtran([], jp.strip_metadata(jp.parse(source_bytes)))
    assert jp.entropy_coded_data(jp.parse(undone)) == jp.entropy_coded_data(jp.parse(camera))


@pytest.mark.parametrize("orientation", [2, 3, 4, 5, 6, 7, 8])
def test_every_exif_orientation_comes_out_upright(
    orientation: int, demographics: Demographics, context: CaptureContext
) -> None:
    require_tool("jpegtran", "libjpeg-turbo-progs")
    upright = makers.scene(64, 48)
    # Store the picture the way a camera with this orientation would.
    undo = {
        2: lambda a: a[:, ::-1],
        3: lambda a: np.rot90(a, 2),
        4: lambda a: a[::-1],
        5: lambda a: np.transpose(a, (1, 0, 2)),
        6: lambda a: np.rot90(a, 1),
        7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),
        8: lambda a: np.rot90(a, -1),
    }[orientation]
    stored = makers.jpeg_bytes(np.ascontiguousarray(undo(upright)), subsampling=0)
    photo = makers.insert_after_soi(
        stored, makers.segment(0xE1, makers.exif_block(orientation=orientation))
    )
    [ds] = convert_bytes(photo, name="o.jpg", demographics=demographics, context=context)
    assert (ds.Rows, ds.Columns) == (48, 64)
    assert np.abs(_pillow(_bitstream(ds)) - upright.astype(int)).mean() < 6


def test_unaligned_rotated_photo_is_trimmed_and_says_so(
    demographics: Demographics, context: CaptureContext, validate: Validate
) -> None:
    require_tool("jpegtran", "libjpeg-turbo-progs")
    upright = makers.scene(70, 50)  # neither side a multiple of the 16-pixel MCU
    photo = makers.private_photo(upright=upright, orientation=6)
    [ds] = convert_bytes(photo, name="odd.jpg", demographics=demographics, context=context)
    back = pydicom.dcmread(validate(ds))
    assert back.ImageType == ["DERIVED", "PRIMARY"]
    assert (back.Rows, back.Columns) == (50, 64)  # 70 -> 64: one partial MCU column
    assert "trimmed 6 column(s) and 0 row(s)" in back.DerivationDescription
    assert "no re-encoding" in back.DerivationDescription
    assert _red_corner(back.pixel_array) == "top-left"


def test_unaligned_rotated_photo_is_an_error_when_trimming_is_not_allowed(
    demographics: Demographics, context: CaptureContext
) -> None:
    require_tool("jpegtran", "libjpeg-turbo-progs")
    photo = makers.private_photo(upright=makers.scene(70, 50), orientation=6)
    with pytest.raises(UnsupportedInput, match=r"odd\.jpg: the photo is rotated"):
        convert_bytes(
            photo, name="odd.jpg", demographics=demographics, context=context, allow_trim=False
        )


def test_jfif_thumbnail_is_removed(demographics: Demographics, context: CaptureContext) -> None:
    plain = makers.jpeg_bytes(makers.scene(32, 32))
    thumb = bytes(range(256))[: 2 * 2 * 3] * 1
    jfif = b"JFIF\x00\x01\x02\x00\x00\x01\x00\x01\x02\x02" + thumb
    soi, rest = plain[:2], plain[2:]
    if rest[:2] == b"\xff\xe0":  # replace Pillow's own JFIF header
        rest = rest[2 + int.from_bytes(rest[2:4], "big") :]
    photo = soi + makers.segment(0xE0, jfif) + rest
    [ds] = convert_bytes(photo, name="t.jpg", demographics=demographics, context=context)
    stream = jp.parse(_bitstream(ds))
    [app0] = stream.app_payloads(0xE0, b"JFIF\x00")
    assert app0[12:14] == b"\x00\x00" and len(app0) == 14
