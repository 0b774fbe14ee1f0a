"""The sample files in tests/data are what tests/data/README.md says they are:
the suite's expectations (4:2:2 photos, an H.264 High Profile Level 4.1 clip,
valid DICOM objects of one patient and study) rest on it."""

from __future__ import annotations

import io
import re
import struct

import av
import pydicom
import pytest
from PIL import Image

from tests.support import CORPUS, REPO, corpus, dciodvfy

PHOTOS = {"rose": (1024, 673), "wizard": (480, 640), "logo": (640, 480), "plasma": (800, 600)}
SIZES = {**PHOTOS, "tiny": (48, 32)}
VL_PHOTOGRAPHIC = "1.2.840.10008.5.1.4.1.1.77.1.4"
VIDEO_PHOTOGRAPHIC = "1.2.840.10008.5.1.4.1.1.77.1.4.1"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
H264_HP41 = "1.2.840.10008.1.2.4.102"


def _markers(data: bytes) -> list[int]:
    """The JPEG marker segments before the first scan."""
    markers, at = [], 2
    while data[at + 1] != 0xDA:
        markers.append(data[at + 1])
        at += 2 + struct.unpack(">H", data[at + 2 : at + 4])[0]
    return markers


@pytest.mark.parametrize("name", sorted(SIZES))
def test_photos_are_baseline_422_jpeg_without_exif(name: str) -> None:
    data = corpus("jpeg", f"{name}.jpg").read_bytes()
    markers = _markers(data)
    assert 0xC0 in markers  # baseline DCT
    assert 0xE1 not in markers  # no EXIF (APP1)
    image = Image.open(io.BytesIO(data))
    assert image.size == SIZES[name]
    assert image.mode == "RGB"
    assert image.layer == [(1, 2, 1, 0), (2, 1, 1, 1), (3, 1, 1, 1)]  # Y 2x1: 4:2:2
    if name in PHOTOS:
        assert 85_000 <= len(data) <= 110_000
    else:
        assert len(data) < 2_000


def test_video_is_h264_high_profile_level_41() -> None:
    with av.open(str(corpus("video", "testsrc_640x480_2s.mp4"))) as container:
        stream = container.streams.video[0]
        cc = stream.codec_context
        assert (cc.name, cc.profile, cc.level, cc.pix_fmt) == ("h264", "High", 41, "yuv420p")
        assert (cc.width, cc.height, stream.average_rate) == (640, 480, 25)
        assert sum(1 for _ in container.decode(stream)) == 50


def test_dicom_objects_are_valid_and_of_one_patient_and_study() -> None:
    photos = [corpus("dicom", f"vlp_{name}.dcm") for name in sorted(SIZES)]
    video = corpus("dicom", "video_testsrc.dcm")
    datasets = {path.name: pydicom.dcmread(path) for path in [*photos, video]}
    for name, ds in datasets.items():
        assert dciodvfy(CORPUS / "dicom" / name).errors == [], name
        assert (ds.PatientID, str(ds.PatientName)) == ("CORPUS0001", "Corpus^Sample")
    assert len({ds.StudyInstanceUID for ds in datasets.values()}) == 1
    assert len({datasets[p.name].SeriesInstanceUID for p in photos}) == 1
    for path, name in zip(photos, sorted(SIZES), strict=True):
        ds = datasets[path.name]
        assert (ds.SOPClassUID, ds.file_meta.TransferSyntaxUID) == (VL_PHOTOGRAPHIC, JPEG_BASELINE)
        assert (ds.Columns, ds.Rows) == SIZES[name]
        assert ds.SeriesNumber == 1
    ds = datasets[video.name]
    assert (ds.SOPClassUID, ds.file_meta.TransferSyntaxUID) == (VIDEO_PHOTOGRAPHIC, H264_HP41)
    assert (ds.Columns, ds.Rows, ds.NumberOfFrames, ds.SeriesNumber) == (640, 480, 50, 2)
    assert ds.AnatomicRegionSequence[0].CodingSchemeDesignator == "SCT"


def test_the_sample_files_stay_small() -> None:
    files = [p for p in CORPUS.rglob("*") if p.is_file() and p.suffix in (".jpg", ".mp4", ".dcm")]
    assert len(files) == 12
    assert sum(p.stat().st_size for p in files) < 1_000_000


def test_the_readme_tour_names_the_sample_study() -> None:
    tour = (REPO / "README.md").read_text().split("## A quick tour")[1].split("\n## ")[0]
    [samples] = re.findall(r"^SAMPLES=(\S+)", tour, flags=re.M)
    study = pydicom.dcmread(corpus("dicom", "vlp_rose.dcm"), stop_before_pixels=True)
    assert samples == study.StudyInstanceUID
    for path in re.findall(r"tests/data/\S+", tour):
        assert (REPO / path.rstrip(")")).exists(), path
