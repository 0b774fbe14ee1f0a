"""Rendering: JPEG Baseline served as its own bitstream minus metadata,
thumbnails cached by hash, video remuxed to MP4 with range requests,
headers that keep patient content out of shared caches."""

from __future__ import annotations

import io
import struct
from fractions import Fraction
from pathlib import Path

import av
import pydicom
from pydicom.encaps import encapsulate, generate_fragments, generate_frames
from pydicom.uid import generate_uid

from archive import Actor, Archive, ConsentRequest, Origin
from consent_sr import ConsentStatus
from tests.factory import encode
from tests.support import corpus
from tests.web_viewer.helpers import signed_in
from web_viewer.media import remux


def _segment(marker: int, payload: bytes) -> bytes:
    return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload


def _with_metadata(path: Path) -> bytes:
    """The corpus photo as if another system had left EXIF, IPTC and a comment in it."""
    ds = pydicom.dcmread(path)
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    dirty = (
        frame[:2]
        + _segment(0xE1, b"Exif\x00\x00MM\x00*GPS-LEAK")
        + _segment(0xED, b"Photoshop 3.0\x00IPTC-LEAK")
        + _segment(0xFE, b"COMMENT-LEAK Doe^Jane")
        + frame[2:]
    )
    ds.PixelData = encapsulate([dirty])
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return encode(ds)


def _consented(archive: Archive, study: str) -> None:
    archive.record_consent(
        ConsentRequest(
            study_instance_uid=study,
            status=ConsentStatus.GIVEN,
            recorded_by="Nurse^Ann",
            level="record",
            consenter="patient",
            form="written",
        ),
        requester=Actor.operator("test"),
    )


def test_jpeg_video_and_headers(archive: Archive, tmp_path: Path) -> None:
    origin = Origin(Actor.operator("modality"))
    rose = archive.ingest(corpus("dicom", "vlp_rose.dcm"), origin=origin)
    dirty = archive.ingest(_with_metadata(corpus("dicom", "vlp_rose.dcm")), origin=origin)
    video = archive.ingest(corpus("dicom", "video_testsrc.dcm"), origin=origin)
    _consented(archive, rose.study_instance_uid)
    client, _ = signed_in(archive, tmp_path, "clin", "clinician", "care")

    # JPEG Baseline: the stored bitstream, no decode, metadata gone.
    r = client.get(f"/api/images/{rose.sop_instance_uid}/picture")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    stored = next(
        generate_frames(
            pydicom.dcmread(corpus("dicom", "vlp_rose.dcm")).PixelData, number_of_frames=1
        )
    )
    assert r.content[:2] == b"\xff\xd8" and r.content[-2:] == b"\xff\xd9"
    assert r.content[r.content.index(b"\xff\xda") :] in stored  # scans byte for byte
    assert "no-store" in r.headers["cache-control"] and "private" in r.headers["cache-control"]
    assert r.headers["etag"]
    r = client.get(f"/api/images/{dirty.sop_instance_uid}/picture")
    assert r.status_code == 200
    for leak in (b"Exif", b"GPS-LEAK", b"IPTC-LEAK", b"COMMENT-LEAK", b"\xff\xe1", b"\xff\xfe"):
        assert leak not in r.content
    # Thumbnails: small, cached once, named by hash only.
    r = client.get(f"/api/images/{rose.sop_instance_uid}/thumbnail")
    assert r.status_code == 200 and r.content[:2] == b"\xff\xd8"
    cached = list(archive.store.derived.rglob("*.jpg"))
    assert cached and all(p.name.startswith(rose.sha256) for p in cached)
    assert b"Exif" not in r.content

    # Video: remuxed into MP4 (not re-encoded), range requests.
    r = client.get(f"/api/images/{video.sop_instance_uid}/video.mp4")
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    assert r.content[4:8] == b"ftyp" and b"moov" in r.content[:4096]  # fast start
    assert "no-store" in r.headers["cache-control"]
    with av.open(io.BytesIO(r.content)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.codec_context.width, stream.codec_context.height) == (640, 480)
        frames = sum(1 for _ in container.decode(stream))
    assert frames == 50
    r = client.get(
        f"/api/images/{video.sop_instance_uid}/video.mp4", headers={"Range": "bytes=0-99"}
    )
    assert r.status_code == 206 and len(r.content) == 100
    assert r.headers["content-range"].startswith("bytes 0-99/")
    r = client.get(f"/api/images/{video.sop_instance_uid}/thumbnail")
    assert r.status_code == 200 and r.content[:2] == b"\xff\xd8"
    page = client.get(f"/images/{video.sop_instance_uid}")
    assert "<video" in page.text and "video.mp4" in page.text


def test_remux_keeps_the_stream(tmp_path: Path) -> None:
    """Every H.264 access unit of the stored stream reaches the MP4 unchanged."""
    ds = pydicom.dcmread(corpus("dicom", "video_testsrc.dcm"))
    stream = b"".join(generate_fragments(ds.PixelData))
    target = tmp_path / "out.mp4"
    remux(stream, "h264", Fraction(25), target)
    with av.open(str(target)) as container:
        sizes = [p.size for p in container.demux(video=0) if p.size]
    with av.open(io.BytesIO(stream), format="h264") as raw:
        raw_count = sum(1 for p in raw.demux(video=0) if p.size)
    assert len(sizes) == raw_count == 50
