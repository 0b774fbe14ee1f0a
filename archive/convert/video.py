"""Clinical video -> Video Photographic Image, stream kept (PS3.3 A.32.7, PS3.5 8.2.8-8.2.12).

The H.264 or HEVC elementary stream is taken out of its MP4/MOV container
without decoding, converted from length-prefixed (AVCC/HVCC) to Annex B
byte-stream form with the parameter sets in band (FFmpeg's
``h264_mp4toannexb`` / ``hevc_mp4toannexb`` bitstream filters, which only
re-frame NAL units), and encapsulated as one frame with an empty Basic
Offset Table. Audio and container metadata (including any location) are not
carried over.

Transfer syntax choice, from the stream's own profile, level, size and rate:

* H.264 Constrained Baseline, Main or High (all decodable by a High Profile
  decoder), 8-bit 4:2:0, level <= 4.1, at most 1920x1080 and 30 frame/s
  (60 frame/s up to 1280x720) -> 1.2.840.10008.1.2.4.102 (High Profile / Level 4.1)
* the same at level 4.2, at most 1920x1080 and 60 frame/s -> .104 (Level 4.2 For 2D Video)
* HEVC Main, level <= 5.1, at most 4096x2160 and 60 frame/s -> .107; Main 10 -> .108

Anything else is an :class:`UnsupportedInput` error, unless the caller opts in
to transcoding (H.264 High Profile / Level 4.1 with libx264), which is then
recorded as lossy and DERIVED.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, Final

import av
import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.tag import Tag
from pydicom.uid import UID, VideoPhotographicImageStorage

from .common import Acquisition, CaptureContext, Demographics, base_dataset, file_meta
from .errors import ConversionError, UnsupportedInput

__all__ = [
    "LOSSY_METHODS",
    "VideoInfo",
    "choose_transfer_syntax",
    "convert_video",
    "probe",
]

MPEG4_HP41: Final = UID("1.2.840.10008.1.2.4.102")
MPEG4_HP42_2D: Final = UID("1.2.840.10008.1.2.4.104")
HEVC_MAIN: Final = UID("1.2.840.10008.1.2.4.107")
HEVC_MAIN10: Final = UID("1.2.840.10008.1.2.4.108")
LOSSY_METHODS: Final = {"h264": "ISO_14496_10", "hevc": "ISO_23008_2", "mpeg2video": "ISO_13818_2"}
_H264_PROFILES: Final = frozenset({"Constrained Baseline", "Main", "High"})
_MAX_STREAM: Final = 0xFFFFFFF0  # one fragment's length must fit 32 bits (PS3.5 A.4)


@dataclass(frozen=True)
class VideoInfo:
    """What the container and stream say, without decoding the whole video."""

    codec: str
    profile: str | None
    level: int
    width: int
    height: int
    pix_fmt: str | None
    rate: Fraction
    frames: int
    rotation: int
    has_audio: bool
    when: dt.datetime | None
    make: str | None
    model: str | None

    def describe(self) -> str:
        level = self.level / (30 if self.codec == "hevc" else 10)
        return (
            f"{self.codec} {self.profile or '?'} level {level:.1f} "
            f"{self.width}x{self.height} {float(self.rate):.3g} frame/s"
        )


def _why(exc: Exception) -> str:
    """FFmpeg's reason without errno numbers or stream reprs."""
    return str(getattr(exc, "strerror", None) or exc)


def _open(data: bytes, **kwargs: Any) -> Any:
    try:
        return av.open(io.BytesIO(data), mode="r", **kwargs)
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise ConversionError(f"not a readable video container: {_why(exc)}") from exc


def _metadata_when(meta: dict[str, str]) -> dt.datetime | None:
    for key in ("com.apple.quicktime.creationdate", "creation_time"):
        text = meta.get(key)
        if not text:
            continue
        try:
            when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            continue
        if when.year > 1970:  # MP4 writers use 1904/1970 epochs for "unknown"
            return when
    return None


def probe(data: bytes) -> VideoInfo:
    """Read codec, profile, level, size, rate and frame count (demux only, one decoded frame)."""
    with _open(data) as container:
        if not container.streams.video:
            raise ConversionError("the file has no video stream")
        stream = container.streams.video[0]
        cc = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        frames = 0
        rotation = 0
        try:
            for packet in container.demux(stream):
                if packet.size:
                    frames += 1
            container.seek(0, stream=stream)
            for frame in container.decode(stream):
                rotation = int(getattr(frame, "rotation", 0) or 0)
                break
        except av.FFmpegError as exc:
            raise ConversionError(f"the video stream is corrupt: {_why(exc)}") from exc
        if frames == 0:
            raise ConversionError("the video stream has no frames")
        meta = {**{k.lower(): v for k, v in container.metadata.items()}}
        return VideoInfo(
            codec=cc.name,
            profile=cc.profile,
            level=int(cc.level or 0),
            width=cc.width,
            height=cc.height,
            pix_fmt=cc.pix_fmt,
            rate=Fraction(rate) if rate else Fraction(0),
            frames=frames,
            rotation=rotation % 360,
            has_audio=bool(container.streams.audio),
            when=_metadata_when(meta),
            make=meta.get("com.apple.quicktime.make") or meta.get("make"),
            model=meta.get("com.apple.quicktime.model") or meta.get("model"),
        )


def choose_transfer_syntax(info: VideoInfo) -> UID:
    """The DICOM video transfer syntax the stream fits as it is (PS3.5 8.2.8-8.2.12)."""
    fps = float(info.rate)
    size = f"{info.width}x{info.height}"
    if fps <= 0:
        raise UnsupportedInput("the video stream has no frame rate")
    if info.codec == "h264":
        if info.profile not in _H264_PROFILES or info.pix_fmt not in ("yuv420p", "yuvj420p"):
            raise UnsupportedInput(
                f"H.264 {info.profile} profile ({info.pix_fmt}) fits no DICOM transfer syntax "
                "(High Profile 8-bit 4:2:0 or below is needed)"
            )
        if info.width > 1920 or info.height > 1080:
            raise UnsupportedInput(
                f"H.264 video of {size} is larger than the 1920x1080 that DICOM's H.264 "
                "transfer syntaxes allow"
            )
        fps_limit = 30.0 if info.width * info.height > 1280 * 720 else 60.0
        if info.level <= 41 and fps <= fps_limit + 0.01:
            return MPEG4_HP41
        if info.level <= 42 and fps <= 60.01:
            return MPEG4_HP42_2D
        raise UnsupportedInput(
            f"H.264 level {info.level / 10:.1f} at {size} {fps:.3g} frame/s exceeds "
            "High Profile Level 4.2, the highest DICOM H.264 transfer syntax"
        )
    if info.codec == "hevc":
        if info.width > 4096 or info.height > 2160 or info.level > 153 or fps > 60.01:
            raise UnsupportedInput(
                f"HEVC level {info.level / 30:.1f} at {size} {fps:.3g} frame/s exceeds "
                "Main / Main 10 Profile Level 5.1 (4096x2160, 60 frame/s)"
            )
        if info.profile == "Main" and info.pix_fmt in ("yuv420p", "yuvj420p"):
            return HEVC_MAIN
        if info.profile == "Main 10" and info.pix_fmt in ("yuv420p", "yuvj420p", "yuv420p10le"):
            return HEVC_MAIN10
        raise UnsupportedInput(
            f"HEVC {info.profile} profile ({info.pix_fmt}) fits no DICOM transfer syntax "
            "(Main or Main 10, 4:2:0, is needed)"
        )
    raise UnsupportedInput(
        f"video codec {info.codec!r} is not supported: DICOM video objects hold "
        "H.264 or HEVC streams"
    )


def annex_b(data: bytes, codec: str) -> bytes:
    """The elementary stream in Annex B form, NAL units unchanged (ITU-T H.264 Annex B)."""
    name = {"h264": "h264_mp4toannexb", "hevc": "hevc_mp4toannexb"}[codec]
    out = bytearray()
    with _open(data) as container:
        stream = container.streams.video[0]
        bsf = av.bitstream.BitStreamFilterContext(name, stream)
        try:
            for packet in container.demux(stream):
                for filtered in bsf.filter(packet if packet.size else None):
                    out += bytes(filtered)
            for filtered in bsf.filter(None):
                out += bytes(filtered)
        except av.FFmpegError as exc:
            raise ConversionError(f"the video stream is corrupt: {_why(exc)}") from exc
    return bytes(out)


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def transcode(data: bytes, info: VideoInfo) -> tuple[bytes, VideoInfo, str]:
    """Re-encode to H.264 High Profile / Level 4.1, upright (explicit opt-in only; lossy)."""
    width, height = (
        (info.height, info.width)
        if info.rotation in (90, 270)
        else (
            info.width,
            info.height,
        )
    )
    in_fps = float(info.rate) or 30.0
    out_rate = info.rate if 0 < in_fps <= 30 else Fraction(30)
    scale = min(1.0, 1920 / width, 1080 / height)
    out_w, out_h = _even(width * scale), _even(height * scale)
    buf = io.BytesIO()
    count = 0
    with _open(data) as src, av.open(buf, mode="w", format="h264") as dst:
        stream = dst.add_stream("libx264", rate=out_rate)
        stream.width, stream.height, stream.pix_fmt = out_w, out_h, "yuv420p"
        stream.codec_context.options = {"profile": "high", "level": "4.1", "crf": "18"}
        step = float(out_rate) / in_fps
        taken = -1
        try:
            for index, frame in enumerate(src.decode(video=0)):
                if math.floor(index * step) == taken:
                    continue
                taken = math.floor(index * step)
                rgb = frame.to_ndarray(format="rgb24")
                if info.rotation:
                    # display matrix rotation is counter-clockwise in FFmpeg
                    rgb = np.ascontiguousarray(np.rot90(rgb, k=info.rotation // 90))
                out = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                    width=out_w, height=out_h, format="yuv420p"
                )
                out.pts = count
                for packet in stream.encode(out):
                    dst.mux(packet)
                count += 1
            for packet in stream.encode():
                dst.mux(packet)
        except av.FFmpegError as exc:
            raise ConversionError(f"the video does not decode: {_why(exc)}") from exc
    what = (
        f"Transcoded (lossy) from {info.describe()} to H.264 High Profile Level 4.1 "
        f"{out_w}x{out_h} {float(out_rate):.3g} frame/s with libx264 CRF 18"
    )
    if info.rotation:
        what += f"; rotated upright per the container's {info.rotation}° display rotation"
    new = replace(
        info,
        codec="h264",
        profile="High",
        level=41,
        width=out_w,
        height=out_h,
        pix_fmt="yuv420p",
        rate=Fraction(out_rate),
        frames=count,
        rotation=0,
    )
    return buf.getvalue(), new, what


def convert_video(
    data: bytes,
    *,
    demographics: Demographics,
    context: CaptureContext,
    allow_transcode: bool = False,
) -> Dataset:
    """An MP4/MOV clinical video as a Video Photographic Image (PS3.3 A.32.7).

    A body site is required: the Video Photographic IOD requires the Anatomic
    Region Sequence (PS3.3 C.8.12.1), and none is invented.
    """
    if context.body_site is None:
        raise ConversionError(
            "a body site is required for video (Anatomic Region Sequence, PS3.3 C.8.12.1)"
        )
    info = probe(data)
    derivation = None
    methods: list[str] = []
    try:
        if info.rotation:
            raise UnsupportedInput(
                f"the video is recorded rotated by {info.rotation}° (display rotation) and "
                "an H.264/HEVC stream cannot be turned upright without re-encoding"
            )
        syntax = choose_transfer_syntax(info)
        stream = annex_b(data, info.codec)
    except UnsupportedInput as exc:
        if not allow_transcode:
            raise UnsupportedInput(
                f"{exc.reason}; transcoding (lossy, explicit opt-in) would be needed"
            ) from exc
        if info.codec in LOSSY_METHODS:
            methods.append(LOSSY_METHODS[info.codec])
        stream, info, derivation = transcode(data, info)
        syntax = MPEG4_HP41
    if len(stream) > _MAX_STREAM:
        raise UnsupportedInput(
            "the video stream is larger than one DICOM fragment can hold (4 GiB)"
        )
    methods.append(LOSSY_METHODS[info.codec])
    notes = ["audio track not stored"] if info.has_audio else []
    acquisition = Acquisition(
        when=info.when, manufacturer=info.make, model=info.model, notes=tuple(notes)
    )
    ds = base_dataset(
        VideoPhotographicImageStorage,
        demographics=demographics,
        context=context,
        acquisition=acquisition,
        image_type=["DERIVED" if derivation else "ORIGINAL", "PRIMARY"],
    )
    if derivation:
        ds.DerivationDescription = derivation
    set_video_attributes(ds, info)
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionMethod = methods
    ds.PixelData = encapsulate([stream], has_bot=False)
    ds["PixelData"].VR = "OB"
    file_meta(ds, syntax)
    return ds


def set_video_attributes(ds: Dataset, info: VideoInfo) -> None:
    """Image Pixel, Multi-frame and Cine modules (PS3.3 C.7.6.3, C.7.6.6, C.7.6.5)."""
    fps = float(info.rate)
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "YBR_PARTIAL_420"
    ds.PlanarConfiguration = 0
    ds.Rows = info.height
    ds.Columns = info.width
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.NumberOfFrames = info.frames
    ds.FrameIncrementPointer = Tag("FrameTime")
    ds.FrameTime = f"{1000.0 / fps:.6g}"
    ds.CineRate = round(fps)
    ds.RecommendedDisplayFrameRate = round(fps)
    ds.StartTrim = 1
    ds.StopTrim = info.frames
