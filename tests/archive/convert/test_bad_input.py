"""Bad input: a clear error naming the file and the reason, and nothing produced."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from archive.convert import (
    CaptureContext,
    ConversionError,
    Demographics,
    UnsupportedInput,
    convert_file,
)
from tests.archive.convert import makers
from tests.support import corpus


def _convert_to_dir(
    path: Path, out: Path, demographics: Demographics, context: CaptureContext
) -> None:
    """What a caller does: convert, then write; a failure must leave ``out`` empty."""
    datasets = convert_file(path, demographics=demographics, context=context)
    for ds in datasets:
        ds.save_as(out / f"{ds.SOPInstanceUID}.dcm", enforce_file_format=True)


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compressobj().compress(b"\x00" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _jpeg_with_size(width: int, height: int) -> bytes:
    plain = makers.jpeg_bytes(makers.scene(16, 16))
    sof = plain.index(b"\xff\xc0")
    return plain[: sof + 5] + struct.pack(">HH", height, width) + plain[sof + 9 :]


def _rose() -> bytes:
    return corpus("jpeg", "rose.jpg").read_bytes()


def _mp4() -> bytes:
    return corpus("video", "testsrc_640x480_2s.mp4").read_bytes()


def _zeroed_after(data: bytes, keep: int) -> bytes:
    return data[:keep] + bytes(len(data) - keep)


# name -> (how to make the file, what the error must say); made when a test
# runs, not when the module is collected.
BAD_INPUTS: dict[str, tuple[Callable[[], bytes], str]] = {
    "empty.jpg": (lambda: b"", "the file is empty"),
    "truncated.jpg": (lambda: _rose()[: len(_rose()) // 2], "JPEG is truncated"),
    "no-scan.jpg": (
        lambda: _rose()[: _rose().index(b"\xff\xda")] + b"\xff\xd9",
        "JPEG is corrupt",
    ),
    "corrupt.mp4": (
        lambda: _zeroed_after(_mp4(), 2000),
        "corrupt|not a readable video|no frames|does not decode",
    ),
    "chopped.mp4": (lambda: _mp4()[:1000], "not a readable video|corrupt|no frames"),
    "bomb.png": (
        lambda: _png_header_only(60000, 60000),
        "exceeds the limit .* decompression bomb",
    ),
    "bomb.jpg": (
        lambda: _jpeg_with_size(65000, 65000),
        "exceeds the limit .* decompression bomb",
    ),
    "notes.txt": (lambda: b"hello, this is text\n", "not a photo or video the converter handles"),
    "broken.png": (lambda: _png_header_only(40, 30)[:-20], "PNG does not decode"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_file_is_a_clear_error_naming_it_and_nothing_is_written(
    name: str, tmp_path: Path, demographics: Demographics, context: CaptureContext
) -> None:
    make, reason = BAD_INPUTS[name]
    data = make()
    path = tmp_path / name
    path.write_bytes(data)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ConversionError, match=rf"^{path}: .*({reason})") as info:
        _convert_to_dir(path, out, demographics, context)
    assert info.value.source == str(path)
    assert list(out.iterdir()) == []
    assert path.read_bytes() == data  # the original is never changed


def test_missing_file_is_a_clear_error(
    tmp_path: Path, demographics: Demographics, context: CaptureContext
) -> None:
    with pytest.raises(ConversionError, match=r"nope\.jpg: cannot read the file"):
        convert_file(tmp_path / "nope.jpg", demographics=demographics, context=context)


def test_unknown_body_site_is_a_clear_error(tmp_path: Path, demographics: Demographics) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(makers.jpeg_bytes(makers.scene(16, 16)))
    with pytest.raises(ConversionError, match="unknown body site 'left elbw'"):
        convert_file(path, demographics=demographics, context=CaptureContext(body_site="left elbw"))


def test_pixel_limit_is_configurable(
    tmp_path: Path, demographics: Demographics, context: CaptureContext
) -> None:
    path = tmp_path / "big.png"
    buf = io.BytesIO()
    Image.fromarray(makers.scene(64, 64)).save(buf, "PNG")
    path.write_bytes(buf.getvalue())
    with pytest.raises(ConversionError, match=r"big\.png: declared image size 64x64"):
        convert_file(path, demographics=demographics, context=context, max_pixels=4000)
    assert convert_file(path, demographics=demographics, context=context, max_pixels=4096)


def test_unsupported_input_is_a_conversion_error_and_a_value_error() -> None:
    assert issubclass(UnsupportedInput, ConversionError)
    assert issubclass(ConversionError, ValueError)
