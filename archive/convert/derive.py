"""New instances derived from stored ones: processed images and video frames.

Whole-image operations only (crop, quarter-turn rotation, contrast, colour
balance), as clinical-photography policy allows. The source dataset is never
modified: a new VL Photographic Image is made with Image Type DERIVED,
a Derivation Description saying exactly what was done, and a Source Image
Sequence pointing at the source (PS3.3 C.7.6.1, C.7.6.1.1.3).
"""

from __future__ import annotations

import copy
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import av
import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.uid import (
    ExplicitVRLittleEndian,
    VideoPhotographicImageStorage,
    VLPhotographicImageStorage,
)

from .common import (
    CHARACTER_SET,
    SOFTWARE,
    code_item,
    file_meta,
    make_uid,
    set_rgb_pixels,
)
from .errors import ConversionError

__all__ = [
    "ColourBalance",
    "Contrast",
    "Crop",
    "Operation",
    "Rotate",
    "derive_image",
    "extract_frames",
]

RGB = npt.NDArray[np.uint8]

# Attributes a new instance shares with its source (Patient, General Study,
# Patient Study; for frames also General Series, General Equipment and the site).
_PATIENT_STUDY: Final = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyID",
    "StudyDescription",
)
_SERIES_EQUIPMENT: Final = (
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDate",
    "SeriesTime",
    "SeriesDescription",
    "OperatorsName",
    "Manufacturer",
    "ManufacturerModelName",
    "InstitutionName",
    "StationName",
    "SoftwareVersions",
)
_IMAGE: Final = ("ContentDate", "ContentTime", "AcquisitionDateTime", "AnatomicRegionSequence")


class Operation(Protocol):
    """A whole-image operation: pixels in, pixels out, and what it did in words."""

    def apply(self, rgb: RGB) -> RGB: ...

    def describe(self, rgb: RGB) -> str: ...


@dataclass(frozen=True)
class Crop:
    """Keep the rectangle at (left, top) of width x height pixels."""

    left: int
    top: int
    width: int
    height: int

    def _check(self, rgb: RGB) -> None:
        rows, cols = rgb.shape[:2]
        if min(self.left, self.top) < 0 or min(self.width, self.height) < 1:
            raise ConversionError(f"crop {self}: offsets must be >= 0 and sizes >= 1")
        if self.left + self.width > cols or self.top + self.height > rows:
            raise ConversionError(f"crop {self} goes outside the {cols}x{rows} image")

    def apply(self, rgb: RGB) -> RGB:
        self._check(rgb)
        return rgb[self.top : self.top + self.height, self.left : self.left + self.width]

    def describe(self, rgb: RGB) -> str:
        rows, cols = rgb.shape[:2]
        return (
            f"cropped to {self.width}x{self.height} pixels from ({self.left},{self.top}) "
            f"of {cols}x{rows}"
        )


@dataclass(frozen=True)
class Rotate:
    """Rotate clockwise by a multiple of 90 degrees (no resampling)."""

    degrees: int

    def apply(self, rgb: RGB) -> RGB:
        if self.degrees not in (90, 180, 270):
            raise ConversionError(f"rotate: degrees must be 90, 180 or 270, not {self.degrees}")
        return np.rot90(rgb, k=-(self.degrees // 90))

    def describe(self, rgb: RGB) -> str:
        return f"rotated {self.degrees}° clockwise"


def _luma(rgb: RGB) -> float:
    weights = np.array([0.299, 0.587, 0.114])
    return float((rgb.reshape(-1, 3).astype(np.float64) @ weights).mean())


@dataclass(frozen=True)
class Contrast:
    """Scale every sample's distance from the mean luma by ``factor``."""

    factor: float

    def apply(self, rgb: RGB) -> RGB:
        if not 0 < self.factor <= 10:
            raise ConversionError(f"contrast: factor must be in (0, 10], not {self.factor}")
        mean = _luma(rgb)
        out = np.rint(mean + (rgb.astype(np.float64) - mean) * self.factor)
        return np.clip(out, 0, 255).astype(np.uint8)

    def describe(self, rgb: RGB) -> str:
        return (
            f"contrast x{self.factor:g} about the mean luma {_luma(rgb):.1f} "
            "(BT.601 weights), rounded and clipped to 0-255"
        )


@dataclass(frozen=True)
class ColourBalance:
    """Multiply the red, green and blue samples by their own gains."""

    red: float = 1.0
    green: float = 1.0
    blue: float = 1.0

    def apply(self, rgb: RGB) -> RGB:
        gains = np.array([self.red, self.green, self.blue])
        if not np.all((gains > 0) & (gains <= 10)):
            raise ConversionError(f"colour balance: gains must be in (0, 10], not {gains}")
        out = np.rint(rgb.astype(np.float64) * gains)
        clipped: RGB = np.clip(out, 0, 255).astype(np.uint8)
        return clipped

    def describe(self, rgb: RGB) -> str:
        return (
            f"colour balance gains red x{self.red:g}, green x{self.green:g}, "
            f"blue x{self.blue:g}, rounded and clipped to 0-255"
        )


def _decode_rgb(source: Dataset) -> RGB:
    if source.SOPClassUID != VLPhotographicImageStorage:
        raise ConversionError("only VL Photographic Images can be processed")
    try:
        pixels = source.pixel_array  # pydicom converts YBR to RGB by default
    except Exception as exc:  # any decoder failure is a bad source for us
        raise ConversionError(f"the source image does not decode: {exc}") from exc
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    return np.asarray(pixels, dtype=np.uint8)


def _source_item(source: Dataset, frame_number: int | None = None) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = source.SOPClassUID
    item.ReferencedSOPInstanceUID = source.SOPInstanceUID
    if frame_number is not None:
        item.ReferencedFrameNumber = frame_number
    # PS3.16 CID 7202 Source Image Purposes of Reference
    item.PurposeOfReferenceCodeSequence = [
        code_item("121322", "DCM", "Source image for image processing operation")
    ]
    return item


def _new_from(
    source: Dataset,
    *,
    image_type: Sequence[str],
    keep_series: bool,
    series_instance_uid: str | None,
    instance_number: int,
    uid_root: str | None,
) -> Dataset:
    now = dt.datetime.now()
    ds = Dataset()
    ds.SpecificCharacterSet = CHARACTER_SET
    ds.ImageType = list(image_type)
    ds.SOPClassUID = VLPhotographicImageStorage
    ds.SOPInstanceUID = make_uid(uid_root)
    ds.InstanceCreationDate = now.strftime("%Y%m%d")
    ds.InstanceCreationTime = now.strftime("%H%M%S")
    ds.Modality = "XC"
    names = _PATIENT_STUDY + _IMAGE + (_SERIES_EQUIPMENT if keep_series else ())
    for name in names:
        if name in source:
            ds[name] = copy.deepcopy(source[name])
    if not keep_series:
        ds.SeriesInstanceUID = series_instance_uid or make_uid(uid_root)
        ds.SeriesNumber = None
        ds.Manufacturer = "photopacs"
        ds.SoftwareVersions = SOFTWARE
    ds.InstanceNumber = instance_number
    ds.PatientOrientation = ""
    ds.ImageLaterality = source.get("ImageLaterality", "U")
    ds.AcquisitionContextSequence = []
    return ds


def _lossy(ds: Dataset, source: Dataset, extra: Iterable[str] = ()) -> None:
    value = source.get("LossyImageCompressionMethod") or []
    methods = [*([value] if isinstance(value, str) else list(value)), *extra]
    if source.get("LossyImageCompression") == "01" or methods:
        ds.LossyImageCompression = "01"
        if methods:
            ds.LossyImageCompressionMethod = list(dict.fromkeys(methods))
    else:
        ds.LossyImageCompression = "00"


def derive_image(
    source: Dataset,
    operations: Sequence[Operation],
    *,
    series_instance_uid: str | None = None,
    series_number: int | None = None,
    instance_number: int = 1,
    uid_root: str | None = None,
) -> Dataset:
    """A processed copy of a VL Photographic Image (PS3.3 C.7.6.1.1.2 DERIVED\\SECONDARY).

    The result is in a new series (given, or made here) of the same study, stored
    uncompressed; ``source`` is not modified. The series number defaults to the
    source's plus 1000, the convention here for "processed images of series N".
    """
    if not operations:
        raise ConversionError("no operation given: a derived image must differ from its source")
    rgb = _decode_rgb(source)
    steps = []
    for op in operations:
        steps.append(op.describe(rgb))
        rgb = np.ascontiguousarray(op.apply(rgb))
    ds = _new_from(
        source,
        image_type=["DERIVED", "SECONDARY"],
        keep_series=False,
        series_instance_uid=series_instance_uid,
        instance_number=instance_number,
        uid_root=uid_root,
    )
    if series_number is None:
        series_number = int(source.get("SeriesNumber") or 0) + 1000
    ds.SeriesNumber = series_number
    text = "; ".join(steps)
    ds.DerivationDescription = f"{text[0].upper()}{text[1:]} (whole image)"[:1024]
    ds.SourceImageSequence = [_source_item(source)]
    set_rgb_pixels(ds, rgb.shape[0], rgb.shape[1], rgb.tobytes())
    _lossy(ds, source)
    if "ICCProfile" in source:
        ds.ICCProfile = source.ICCProfile
    file_meta(ds, ExplicitVRLittleEndian)
    return ds


_VIDEO_CODECS: Final = {
    "1.2.840.10008.1.2.4.102": "h264",
    "1.2.840.10008.1.2.4.103": "h264",
    "1.2.840.10008.1.2.4.104": "h264",
    "1.2.840.10008.1.2.4.105": "h264",
    "1.2.840.10008.1.2.4.106": "h264",
    "1.2.840.10008.1.2.4.107": "hevc",
    "1.2.840.10008.1.2.4.108": "hevc",
}


def _frame_numbers(video: Dataset, numbers: Iterable[int], times: Iterable[float]) -> list[int]:
    total = int(video.NumberOfFrames)
    frame_ms = float(video.FrameTime)
    wanted = [int(n) for n in numbers]
    for seconds in times:
        if seconds < 0:
            raise ConversionError(f"frame time {seconds} s is negative")
        wanted.append(int(seconds * 1000.0 / frame_ms + 1e-6) + 1)
    for n in wanted:
        if not 1 <= n <= total:
            raise ConversionError(f"frame {n} is outside the video's frames 1-{total}")
    return sorted(set(wanted))


def extract_frames(
    video: Dataset,
    *,
    frame_numbers: Iterable[int] = (),
    times: Iterable[float] = (),
    first_instance_number: int | None = None,
    uid_root: str | None = None,
) -> list[Dataset]:
    """Chosen frames of a Video Photographic Image as VL Photographic Images.

    Frames are numbered from 1 in display order (PS3.3 C.7.6.6); ``times`` are
    seconds from the start. Each frame is stored uncompressed as decoded, in the
    video's series, DERIVED\\PRIMARY, with a Source Image Sequence item naming
    the video and the Referenced Frame Number (PS3.3 C.7.6.1, C.10.3).
    """
    if video.SOPClassUID != VideoPhotographicImageStorage:
        raise ConversionError("frames can only be taken from a Video Photographic Image")
    syntax = str(video.file_meta.TransferSyntaxUID)
    codec = _VIDEO_CODECS.get(syntax)
    if codec is None:
        raise ConversionError(f"video transfer syntax {syntax} is not H.264 or HEVC")
    wanted = _frame_numbers(video, frame_numbers, times)
    if not wanted:
        return []
    stream = next(generate_frames(video.PixelData, number_of_frames=1))
    found: dict[int, RGB] = {}
    try:
        with av.open(io.BytesIO(stream), mode="r", format=codec) as container:
            for index, frame in enumerate(container.decode(video=0), start=1):
                if index in wanted:
                    found[index] = np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
                if index >= wanted[-1]:
                    break
    except av.FFmpegError as exc:
        raise ConversionError(f"the video stream does not decode: {exc}") from exc
    missing = [n for n in wanted if n not in found]
    if missing:
        raise ConversionError(f"the video stream ended before frame(s) {missing}")
    start = first_instance_number or int(video.get("InstanceNumber") or 0) + 1
    frame_ms = float(video.FrameTime)
    out = []
    for offset, number in enumerate(wanted):
        rgb = np.ascontiguousarray(found[number])
        ds = _new_from(
            video,
            image_type=["DERIVED", "PRIMARY"],
            keep_series=True,
            series_instance_uid=None,
            instance_number=start + offset,
            uid_root=uid_root,
        )
        ds.DerivationDescription = (
            f"Frame {number} of {video.NumberOfFrames} (at {(number - 1) * frame_ms / 1000:.3f} s) "
            f"of video {video.SOPInstanceUID}, decoded to RGB without other processing"
        )
        item = _source_item(video, number)
        del item.PurposeOfReferenceCodeSequence
        ds.SourceImageSequence = [item]
        set_rgb_pixels(ds, rgb.shape[0], rgb.shape[1], rgb.tobytes())
        _lossy(ds, video)
        file_meta(ds, ExplicitVRLittleEndian)
        out.append(ds)
    return out
