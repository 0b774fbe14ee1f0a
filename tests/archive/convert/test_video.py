"""MP4/MOV -> Video Photographic Image wrapping the original stream; frames -> VL images."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.encaps import generate_frames
from pydicom.uid import VideoPhotographicImageStorage, VLPhotographicImageStorage

from archive.convert import (
    CaptureContext,
    ConversionError,
    Demographics,
    UnsupportedInput,
    convert_file,
    extract_frames,
)
from archive.convert.api import convert_bytes
from archive.convert.video import annex_b
from tests.archive.convert import makers
from tests.archive.convert.conftest import Validate
from tests.support import corpus

X265_QUIET = {"x265-params": "log-level=error"}


def _stream(ds: pydicom.Dataset) -> bytes:
    return next(generate_frames(ds.PixelData, number_of_frames=1))


def test_corpus_mp4_becomes_video_photographic_with_the_stream_unchanged(
    demographics: Demographics, context: CaptureContext, validate: Validate
) -> None:
    source = corpus("video", "testsrc_640x480_2s.mp4")
    [ds] = convert_file(source, demographics=demographics, context=context)
    back = pydicom.dcmread(validate(ds))
    assert back.SOPClassUID == VideoPhotographicImageStorage
    assert back.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.102"  # HP@L4.1
    assert (back.Rows, back.Columns, back.NumberOfFrames) == (480, 640, 50)
    assert float(back.FrameTime) == 40.0
    assert back.CineRate == 25
    assert back.FrameIncrementPointer == pydicom.tag.Tag("FrameTime")
    assert back.PhotometricInterpretation == "YBR_PARTIAL_420"
    assert back.LossyImageCompressionMethod == "ISO_14496_10"
    # The same Annex B stream another tool put in the corpus object (one fragment).
    reference = pydicom.dcmread(corpus("dicom", "video_testsrc.dcm"))
    assert _stream(back) == _stream(reference)
    # And every NAL unit of the MP4 is in it, re-framed only (start codes for lengths).
    assert _stream(back).rstrip(b"\x00") == annex_b(source.read_bytes(), "h264").rstrip(b"\x00")


def test_hevc_mp4_takes_the_hevc_main_transfer_syntax(
    demographics: Demographics, context: CaptureContext, validate: Validate
) -> None:
    data = makers.video_bytes("libx265", options=X265_QUIET)
    [ds] = convert_bytes(data, name="clip.mp4", demographics=demographics, context=context)
    back = pydicom.dcmread(validate(ds))
    assert back.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.107"
    assert back.LossyImageCompressionMethod == "ISO_23008_2"
    assert back.NumberOfFrames == 12
    assert _stream(back).startswith(b"\x00\x00\x00\x01")


def test_level_42_h264_takes_the_level_42_syntax_and_level_51_is_refused(
    demographics: Demographics, context: CaptureContext
) -> None:
    data = makers.video_bytes(options={"level": "4.2"})
    [ds] = convert_bytes(data, name="l42.mp4", demographics=demographics, context=context)
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.104"
    data = makers.video_bytes(options={"level": "5.1"})
    with pytest.raises(UnsupportedInput, match=r"l51\.mp4: H\.264 level 5\.1 .* exceeds"):
        convert_bytes(data, name="l51.mp4", demographics=demographics, context=context)


@pytest.mark.parametrize(
    ("codec", "fmt", "name"), [("mpeg4", "mp4", "mpeg4"), ("libvpx-vp9", "mp4", "vp9")]
)
def test_unsupported_codec_is_a_clear_error_unless_transcoding_is_chosen(
    codec: str,
    fmt: str,
    name: str,
    demographics: Demographics,
    context: CaptureContext,
    validate: Validate,
) -> None:
    data = makers.video_bytes(codec, fmt=fmt)
    with pytest.raises(
        UnsupportedInput, match=rf"clip\.mp4: video codec '{name}' is not supported"
    ):
        convert_bytes(data, name="clip.mp4", demographics=demographics, context=context)
    [ds] = convert_bytes(
        data,
        name="clip.mp4",
        demographics=demographics,
        context=context,
        allow_transcode=True,
    )
    back = pydicom.dcmread(validate(ds))
    assert back.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.102"
    assert back.ImageType == ["DERIVED", "PRIMARY"]
    assert back.LossyImageCompression == "01"
    assert back.DerivationDescription.startswith(f"Transcoded (lossy) from {name}")
    assert back.NumberOfFrames == 12


def test_rotated_video_needs_transcoding_which_turns_it_upright(
    demographics: Demographics, context: CaptureContext
) -> None:
    # Display rotation -90 (FFmpeg: counter-clockwise angles) = turn 90° clockwise,
    # what a phone held upright records.
    data = makers.video_bytes(width=160, height=96, rotation=-90)
    with pytest.raises(UnsupportedInput, match=r"rotated by 270°.*transcoding"):
        convert_bytes(data, name="phone.mov", demographics=demographics, context=context)
    video, frame = convert_bytes(
        data,
        name="phone.mov",
        demographics=demographics,
        context=context,
        allow_transcode=True,
        frame_numbers=[1],
    )
    assert (video.Rows, video.Columns) == (160, 96)
    assert "rotated upright" in video.DerivationDescription
    # The white block at the stored top-left is at the top-right once turned clockwise.
    px = frame.pixel_array.astype(int)
    assert px[:8, -8:].mean() > 200 and px[:8, :8].mean() < 60


def test_chosen_frames_become_derived_vl_images_referencing_the_video(
    demographics: Demographics, context: CaptureContext, validate: Validate
) -> None:
    data = makers.video_bytes(frames=12)
    video, *frames = convert_bytes(
        data,
        name="clip.mp4",
        demographics=demographics,
        context=context,
        frame_numbers=[1, 5],
        frame_times=[0.4],  # 25 frame/s: 0.4 s is frame 11
    )
    validate(video)
    assert [f.InstanceNumber for f in frames] == [2, 3, 4]
    for ds, number in zip(frames, [1, 5, 11], strict=True):
        back = pydicom.dcmread(validate(ds))
        assert back.SOPClassUID == VLPhotographicImageStorage
        assert back.ImageType == ["DERIVED", "PRIMARY"]
        assert back.SeriesInstanceUID == video.SeriesInstanceUID
        [ref] = back.SourceImageSequence
        assert ref.ReferencedSOPInstanceUID == video.SOPInstanceUID
        assert ref.ReferencedSOPClassUID == VideoPhotographicImageStorage
        assert ref.ReferencedFrameNumber == number
        assert back.LossyImageCompression == "01"
        # Frame i of the test video is flat grey 20*(i-1) below the white block.
        grey = back.pixel_array[-20:, -20:].astype(int)
        assert abs(grey.mean() - 20 * (number - 1)) < 6


def test_frame_numbers_outside_the_video_are_refused(
    demographics: Demographics, context: CaptureContext
) -> None:
    [video] = convert_bytes(
        makers.video_bytes(frames=6), name="c.mp4", demographics=demographics, context=context
    )
    with pytest.raises(ConversionError, match="frame 7 is outside the video's frames 1-6"):
        extract_frames(video, frame_numbers=[7])
    with pytest.raises(ConversionError, match="outside"):
        extract_frames(video, times=[10.0])


def test_video_without_a_body_site_is_refused(demographics: Demographics) -> None:
    with pytest.raises(ConversionError, match=r"c\.mp4: a body site is required for video"):
        convert_bytes(
            makers.video_bytes(frames=2),
            name="c.mp4",
            demographics=demographics,
            context=CaptureContext(),
        )


def test_audio_is_not_carried_and_that_is_noted(
    demographics: Demographics, context: CaptureContext
) -> None:
    import io
    from fractions import Fraction

    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        v = out.add_stream("libx264", rate=Fraction(25))
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        a = out.add_stream("aac", rate=8000)
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            frame.pts = i
            for p in v.encode(frame):
                out.mux(p)
        samples = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        samples.sample_rate, samples.pts = 8000, 0
        for p in a.encode(samples):
            out.mux(p)
        for s in (v, a):
            for p in s.encode():
                out.mux(p)
    [ds] = convert_bytes(
        buf.getvalue(), name="talk.mp4", demographics=demographics, context=context
    )
    assert "audio track not stored" in ds.ImageComments
