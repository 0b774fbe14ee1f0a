"""Ordinary DICOM clients get every photo: transfer-syntax negotiation keeps
the camera's bitstream, and decoding is the fallback for a receiver that
cannot take the stored syntax (never the default, never for video, audited).

Foreign clients are dcmtk's getscu, movescu and storescp; the camera is a
pynetdicom SCU offering one context per SOP class, as many cameras do.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import (
    MPEG4HP41,
    ComprehensiveSRStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    VideoPhotographicImageStorage,
    VLPhotographicImageStorage,
)
from sqlalchemy import select

from archive import Actor, Archive, NodeRole
from archive.models import AuditEvent
from archive.uids import SR_CLASSES
from tests.dicom_gateway.conftest import AET, EPR, Running, associate, seed, stored
from tests.dicom_gateway.dcmtk import storescp, tool
from tests.factory import make_dataset
from tests.serving import free_port, photopacs_bin
from tests.support import corpus, dciodvfy

OPERATOR = Actor.operator("t")

pytestmark = pytest.mark.dcmtk
PHOTOS = ("rose", "wizard", "logo", "plasma", "tiny")
PLAIN = "PLAINSCP"  # a storescp that takes only uncompressed syntaxes


def _photos() -> list[Path]:
    return [corpus("dicom", f"vlp_{name}.dcm") for name in PHOTOS]


def _video() -> Path:
    return corpus("dicom", "video_testsrc.dcm")


def _pixels(path_or_ds: Path | pydicom.Dataset) -> np.ndarray:
    ds = pydicom.dcmread(path_or_ds) if isinstance(path_or_ds, Path) else path_or_ds
    return ds.pixel_array


def _received(folder: Path) -> dict[str, pydicom.Dataset]:
    """What a receiver got, less the consent documents (which travel with the study)."""
    got = {ds.SOPInstanceUID: ds for ds in map(pydicom.dcmread, sorted(folder.iterdir()))}
    return {uid: ds for uid, ds in got.items() if ds.SOPClassUID not in SR_CLASSES}


@pytest.fixture
def corpus_study(gateway: Running) -> dict[str, Path]:
    """The five JPEG photos (series 1) and the H.264 video (series 2), visible for care."""
    files = [*_photos(), _video()]
    seed(gateway.archive, *files)
    return {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID: p for p in files}


def _retrieve_audits(archive: Archive) -> list[dict[str, object]]:
    with archive.sessions() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.action == "retrieve")).all()
        details = [json.loads(r.detail) if isinstance(r.detail, str) else r.detail for r in rows]
    return [d for d in details if d and ("transcoded" in d or "not_sent" in d)]


# --- negotiation as acceptor: a camera's bitstream is kept -------------------------------
@pytest.mark.parametrize(
    ("path", "sop_class", "syntax"),
    [
        ("photo", VLPhotographicImageStorage, JPEGBaseline8Bit),
        ("video", VideoPhotographicImageStorage, MPEG4HP41),
    ],
)
def test_a_camera_offering_its_bitstream_and_uncompressed_gets_its_bitstream_kept(
    gateway: Running, path: str, sop_class: str, syntax: str
) -> None:
    source = _photos()[0] if path == "photo" else _video()
    contexts = [(sop_class, [syntax, ExplicitVRLittleEndian, ImplicitVRLittleEndian])]
    with associate(gateway.port, "CAMERA1", contexts) as assoc:
        assert assoc.is_established
        [cx] = assoc.accepted_contexts
        assert cx.transfer_syntax[0] == syntax
        assert assoc.send_c_store(source).Status == 0x0000
    original = pydicom.dcmread(source)
    row = stored(gateway.archive, original.SOPInstanceUID)
    assert row is not None and row.transfer_syntax_uid == syntax
    kept = pydicom.dcmread(gateway.archive.store.path_for(row.storage_key))
    assert kept.PixelData == original.PixelData  # the bitstream, not a decoded copy
    assert row.size_bytes < 2 * source.stat().st_size


def test_documents_are_never_accepted_in_an_image_syntax(gateway: Running) -> None:
    contexts = [(ComprehensiveSRStorage, [JPEGBaseline8Bit, ExplicitVRLittleEndian])]
    with associate(gateway.port, "CAMERA1", contexts) as assoc:
        [cx] = assoc.accepted_contexts
        assert cx.transfer_syntax[0] == ExplicitVRLittleEndian


# --- C-GET: getscu default and +xy, at every level -----------------------------------------
@pytest.mark.parametrize("level", ["STUDY", "SERIES", "IMAGE"])
@pytest.mark.parametrize("flags", [[], ["+xy"]], ids=["default", "jpeg"])
def test_getscu_receives_every_visible_photo(
    gateway: Running, corpus_study: dict[str, Path], tmp_path: Path, level: str, flags: list[str]
) -> None:
    first = pydicom.dcmread(_photos()[0], stop_before_pixels=True)
    keys = ["-k", f"QueryRetrieveLevel={level}", "-k", f"StudyInstanceUID={first.StudyInstanceUID}"]
    if level in ("SERIES", "IMAGE"):
        keys += ["-k", f"SeriesInstanceUID={first.SeriesInstanceUID}"]
    out = tmp_path / "got"
    out.mkdir()
    proc = tool("getscu", "-d", *flags, "-aet", EPR, "-aec", AET, "-S", "-od", out, *keys,
                "127.0.0.1", str(gateway.port))  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = _received(out)
    photos = {uid: p for uid, p in corpus_study.items() if p.name.startswith("vlp_")}
    assert set(photos) <= set(got), proc.stdout[-3000:]
    for uid, source in photos.items():
        original, received = pydicom.dcmread(source), got[uid]
        if flags:  # JPEG offered: the stored bitstream, unchanged
            assert received.file_meta.TransferSyntaxUID == JPEGBaseline8Bit
            assert received.PixelData == original.PixelData
        else:  # only uncompressed offered: decoded, the same pixels
            assert received.file_meta.TransferSyntaxUID in (
                ExplicitVRLittleEndian,
                ImplicitVRLittleEndian,
            )
            assert np.array_equal(_pixels(received), _pixels(original))
    video_uid = next(uid for uid, p in corpus_study.items() if p == _video())
    if level == "STUDY":  # getscu offers no MPEG-4 context: the video cannot go, and says why
        assert video_uid not in got
        output = proc.stdout + proc.stderr
        assert "Failed Suboperations          : 1" in output, output
        assert "video cannot be decoded for this destination" in output, output
        assert "Remaining Suboperations       : 1" not in output.split("0xb000")[-1]


def test_cget_with_mixed_stored_syntaxes_delivers_every_object(
    gateway: Running, tmp_path: Path
) -> None:
    """Photos of one class stored as JPEG and uncompressed: native is chosen, all arrive."""
    rose = pydicom.dcmread(_photos()[0])
    plain = make_dataset(
        patient_id=rose.PatientID,
        patient_name=str(rose.PatientName),
        birth_date=rose.get("PatientBirthDate", ""),
        sex=rose.get("PatientSex", ""),
        study_uid=rose.StudyInstanceUID,
        sop_class=VLPhotographicImageStorage,
        modality="XC",
    )
    seed(gateway.archive, _photos()[0], plain)
    out = tmp_path / "got"
    out.mkdir()
    proc = tool("getscu", "+xy", "-aet", EPR, "-aec", AET, "-S", "-od", out,
                "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={rose.StudyInstanceUID}",
                "127.0.0.1", str(gateway.port))  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = _received(out)
    assert set(got) == {rose.SOPInstanceUID, plain.SOPInstanceUID}
    assert np.array_equal(_pixels(got[rose.SOPInstanceUID]), _pixels(rose))


# --- C-MOVE to a receiver that takes only uncompressed ---------------------------------------
def _move_study_to_plain(
    gateway: Running, tmp_path: Path, *flags: str, transcode: bool = True
) -> tuple[str, Path]:
    """C-MOVE the corpus study with dcmtk's movescu (``flags`` added) to PLAIN, a
    storescp that takes only uncompressed syntaxes, registered as a peer
    (``transcode``: whether the archive may decode for it); returns movescu's
    output and the folder of what PLAIN received."""
    port = free_port()
    gateway.archive.add_node(
        PLAIN, host="127.0.0.1", port=port, role="peer", transcode=transcode, requester=OPERATOR
    )
    study = pydicom.dcmread(_photos()[0], stop_before_pixels=True).StudyInstanceUID
    with storescp(port, tmp_path / "plain", aet=PLAIN, accept_all=False) as folder:
        proc = tool("movescu", *flags, "-aet", EPR, "-aem", PLAIN, "-aec", AET, "-S",
                    "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}",
                    "127.0.0.1", str(gateway.port))  # fmt: skip
    return proc.stdout + proc.stderr, folder


def test_movescu_to_an_uncompressed_only_storescp_gets_decoded_photos(
    gateway: Running, corpus_study: dict[str, Path], tmp_path: Path
) -> None:
    output, folder = _move_study_to_plain(gateway, tmp_path, "-d")
    got = _received(folder)
    photos = {uid: p for uid, p in corpus_study.items() if p.name.startswith("vlp_")}
    assert set(got) == set(photos), output
    for uid, source in photos.items():
        assert got[uid].file_meta.TransferSyntaxUID in (
            ExplicitVRLittleEndian,
            ImplicitVRLittleEndian,
        )
        assert np.array_equal(_pixels(got[uid]), _pixels(source))
    # the video cannot be decoded to frames: its sub-operation fails, and the answer says why
    assert "0xb000" in output.lower(), output[-3000:]
    assert "video cannot be decoded for this destination" in output, output[-3000:]
    assert "MoveDestinationUnknown" not in output
    # the stored objects are untouched
    for uid, source in corpus_study.items():
        row = stored(gateway.archive, uid)
        assert row is not None
        assert gateway.archive.store.path_for(row.storage_key).read_bytes() == source.read_bytes()
    # and it is all in the audit trail
    [event] = _retrieve_audits(gateway.archive)
    assert sorted(event["transcoded"]) == sorted(photos)  # type: ignore[arg-type]
    [not_sent] = event["not_sent"]  # type: ignore[misc]
    assert "video" in not_sent["reason"]


@pytest.mark.dicom3tools
def test_every_decoded_object_passes_dciodvfy(
    gateway: Running, corpus_study: dict[str, Path], tmp_path: Path
) -> None:
    _, folder = _move_study_to_plain(gateway, tmp_path)
    files = sorted(folder.iterdir())
    assert len([f for f in files if f.name.startswith("VLp")]) == len(PHOTOS)
    for path in files:  # the decoded photos, and the consent document with them
        result = dciodvfy(path)
        assert result.errors == [], result.output


def test_a_node_with_transcoding_off_gets_the_reason_instead(
    gateway: Running, corpus_study: dict[str, Path], tmp_path: Path
) -> None:
    output, folder = _move_study_to_plain(gateway, tmp_path, "-d", transcode=False)
    got = _received(folder)
    assert got == {}
    assert "transcoding is off" in output, output
    assert "MoveDestinationUnknown" not in output


# --- photopacs send -------------------------------------------------------------------------
def _send(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [photopacs_bin(), "send", *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, **env}, check=False,
    )  # fmt: skip


def test_photopacs_send_to_an_uncompressed_only_storescp(archive: Archive, tmp_path: Path) -> None:
    port = free_port()
    env = {
        "PHOTOPACS_DATA_DIR": str(archive.settings.data_dir),
        "PHOTOPACS_DATABASE_URL": str(archive.settings.database_url),
    }
    archive.add_node(PLAIN, host="127.0.0.1", port=port, role="peer", requester=OPERATOR)
    with storescp(port, tmp_path / "plain", aet=PLAIN, accept_all=False) as folder:
        photos = _send(*map(str, _photos()), "--to", PLAIN, env=env)
        assert photos.returncode == 0, photos.stdout + photos.stderr
        assert f"{len(PHOTOS)} decoded to Explicit VR Little Endian" in photos.stdout
        video = _send(str(_video()), "--to", PLAIN, env=env)
        got = _received(folder)
    assert len(got) == len(PHOTOS)
    for source in _photos():
        ds = pydicom.dcmread(source)
        assert np.array_equal(_pixels(got[ds.SOPInstanceUID]), _pixels(ds))
    assert video.returncode == 1
    assert "video" in video.stdout and "cannot be decoded" in video.stdout, video.stdout
    assert "did not answer" not in video.stdout + video.stderr


def test_node_registry_shows_the_transcoding_switch(archive: Archive) -> None:
    archive.add_node(
        "NOTRANS", host="127.0.0.1", port=104, role="peer", transcode=False, requester=OPERATOR
    )
    [node] = [n for n in archive.nodes() if n.ae_title == "NOTRANS"]
    assert node.transcode is False and node.role is NodeRole.PEER and node.check_address is True
