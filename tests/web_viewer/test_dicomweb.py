"""DICOMweb against a real `photopacs serve`, spoken to by dicomweb-client (the
client OHIF's Python cousins and EPR integrations use): QIDO-RS search with the
C-FIND matching, WADO-RS retrieve of the stored bytes unchanged, metadata and
frames (the camera's JPEG bitstream as stored, or native on request), and the
consent rules: what a clinician acting for care may not see is never found,
never counted, and a look at it is a 404 with a refused audit event."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
import requests
from dicomweb_client import DICOMwebClient
from pydicom.encaps import generate_frames
from sqlalchemy import func, select

from archive import (
    Actor,
    Archive,
    ArchiveSettings,
    Availability,
    Level,
    Origin,
    Purpose,
    Role,
)
from archive.models import AuditEvent
from consent_sr import ConsentStatus
from tests.factory import make_instance
from tests.serving import free_port, photopacs_bin, running
from tests.support import corpus
from tests.web_viewer.helpers import PASSWORD, Scenario, _consent, add_user, build_scenario

JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
ENDOSCOPY_STUDY = "1.2.826.0.1.3680043.8.498.77001"


@dataclass
class Served:
    base: str
    token: str
    archive: Archive
    scenario: Scenario
    stored: dict[str, Path]  # SOP Instance UID -> the sample file ingested
    study: str  # the corpus study: photos with consent, one held by governance
    series: str  # its photo series
    held: str  # the photo in it held by governance
    video: str

    def client(self, token: str | None = None) -> DICOMwebClient:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token or self.token}"
        return DICOMwebClient(f"{self.base}/dicomweb", session=session)

    def get(self, path: str, **headers: str) -> requests.Response:
        headers.setdefault("Authorization", f"Bearer {self.token}")
        return requests.get(f"{self.base}/dicomweb{path}", headers=headers, timeout=60)

    def refused(self) -> int:
        with self.archive.sessions() as s:
            stmt = select(func.count()).select_from(AuditEvent)
            return int(s.scalar(stmt.where(AuditEvent.outcome == "refused")) or 0)


def _ingest(archive: Archive, data: bytes | Path) -> str:
    return archive.ingest(
        data, origin=Origin(Actor("phot", Role.PHOTOGRAPHER, Purpose.CARE))
    ).sop_instance_uid


def _sign_in(base: str, username: str, purpose: str) -> str:
    """A Bearer token for ``username``, acting for ``purpose`` (none chosen if "")."""
    r = requests.post(
        f"{base}/api/session", json={"username": username, "password": PASSWORD}, timeout=30
    )
    assert r.status_code == 200, r.text
    token: str = r.json()["token"]
    if not purpose:
        return token
    r = requests.put(
        f"{base}/api/session/purpose",
        json={"purpose": purpose},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return token


@pytest.fixture
def served(archive: Archive, settings: ArchiveSettings, tmp_path: Path) -> Iterator[Served]:
    scenario = build_scenario(archive)  # M1 and M2: recordings in every consent state
    stored: dict[str, Path] = {}
    for name in ("vlp_rose", "vlp_tiny", "vlp_logo", "video_testsrc"):
        path = corpus("dicom", f"{name}.dcm")
        stored[_ingest(archive, path)] = path
    sample = pydicom.dcmread(corpus("dicom", "vlp_rose.dcm"), stop_before_pixels=True)
    given = {"level": "record", "consenter": "patient", "form": "written"}
    _consent(archive, sample.StudyInstanceUID, ConsentStatus.GIVEN, **given)
    held = pydicom.dcmread(corpus("dicom", "vlp_logo.dcm"), stop_before_pixels=True)
    archive.set_availability(
        Level.IMAGE,
        held.SOPInstanceUID,
        Availability.HELD,
        reason="check",
        requester=Actor.operator("ig"),
    )
    video = pydicom.dcmread(corpus("dicom", "video_testsrc.dcm"), stop_before_pixels=True)
    for number in (1, 2):  # endoscopy: native pixels, active for care without consent
        _ingest(
            archive,
            make_instance(
                patient_id="E1",
                patient_name="Scope^Sam",
                study_uid=ENDOSCOPY_STUDY,
                study_date=f"2025060{number}",
                instance_number=number,
                series_number=number,
            ),
        )
    add_user(archive, "cara", "clinician")
    add_user(archive, "ada", "admin")
    http, dicom = free_port(), free_port()
    env = {
        "PHOTOPACS_DATA_DIR": str(settings.data_dir),
        "PHOTOPACS_DATABASE_URL": settings.database_url,
        "PHOTOPACS_HTTP_PORT": str(http),
        "PHOTOPACS_DICOM_PORT": str(dicom),
        "PHOTOPACS_MIN_FREE_BYTES": "0",
    }
    exe = photopacs_bin()
    with running([exe, "serve"], env, tmp_path / "serve.log", http_port=http, dicom_port=dicom):
        base = f"http://127.0.0.1:{http}"
        yield Served(
            base=base,
            token=_sign_in(base, "cara", "care"),
            archive=archive,
            scenario=scenario,
            stored=stored,
            study=sample.StudyInstanceUID,
            series=sample.SeriesInstanceUID,
            held=held.SOPInstanceUID,
            video=video.SOPInstanceUID,
        )


def decoded_pixels(path: Path) -> bytes:
    ds = pydicom.dcmread(path)
    ds.decompress(generate_instance_uid=False)
    return bytes(ds.PixelData)


def _values(result: dict[str, dict[str, list[object]]], tag: str) -> list[object]:
    return result.get(tag, {}).get("Value", [])


def test_qido_matches_as_c_find_does_over_what_care_may_see(served: Served) -> None:
    client = served.client()
    studies = client.search_for_studies()
    uids = {_values(s, "0020000D")[0] for s in studies}
    # M1's teaching, level3 and vital photos are visible for care; the held photos
    # (M1's, M2's) are not, and nothing else is in their studies.
    sc = served.scenario.studies
    assert {sc["teaching"], sc["level3"], sc["vital"], served.study, ENDOSCOPY_STUDY} <= uids
    assert not {sc["held"], sc["other-held"]} & uids

    (corpus_study,) = client.search_for_studies(search_filters={"PatientID": "CORPUS0001"})
    assert _values(corpus_study, "00100010") == [{"Alphabetic": "Corpus^Sample"}]
    assert "XC" in _values(corpus_study, "00080061")  # ModalitiesInStudy
    instances = client.search_for_instances(study_instance_uid=served.study)
    seen = {_values(i, "00080018")[0] for i in instances}
    assert served.held not in seen  # never found, never counted
    assert {u for u in served.stored if u != served.held} <= seen
    assert _values(corpus_study, "00201208") == [len(instances)]  # NumberOfStudyRelatedInstances

    # Tag numbers, wildcards, date ranges, UID lists (backslash or comma), includefield.
    by_tag = client.search_for_studies(search_filters={"00100020": "CORP*"})
    assert [_values(s, "0020000D") for s in by_tag] == [[served.study]]
    ranged = client.search_for_studies(search_filters={"StudyDate": "20250601-20250630"})
    assert [_values(s, "0020000D") for s in ranged] == [[ENDOSCOPY_STUDY]]
    for joined in (f"{served.study},{ENDOSCOPY_STUDY}", f"{served.study}\\{ENDOSCOPY_STUDY}"):
        listed = client.search_for_studies(search_filters={"StudyInstanceUID": joined})
        assert {_values(s, "0020000D")[0] for s in listed} == {served.study, ENDOSCOPY_STUDY}
    series = client.search_for_series(
        search_filters={"PatientID": "E1"}, fields=["BodyPartExamined", "00081030"]
    )
    assert len(series) == 2
    assert all(_values(s, "00180015") == ["ARM"] for s in series)
    assert all(_values(s, "00081030") == ["Wound photography"] for s in series)
    everything = client.search_for_series(search_filters={"PatientID": "E1"}, fields=["all"])
    assert all("00201209" in s and "00100030" in s for s in everything)
    in_series = client.search_for_instances(
        study_instance_uid=served.study, series_instance_uid=served.series
    )
    assert served.held not in {_values(i, "00080018")[0] for i in in_series}
    assert client.search_for_studies(search_filters={"PatientID": "NOBODY"}) == []

    # limit and offset, with a Warning when results are cut; fuzzymatching is accepted.
    paged = [_values(s, "0020000D")[0] for s in client.search_for_studies(limit=2, offset=1)]
    assert paged == [_values(s, "0020000D")[0] for s in studies[1:3]]
    r = served.get("/studies?limit=2&fuzzymatching=true")
    assert r.status_code == 200 and r.headers["content-type"] == "application/dicom+json"
    assert len(r.json()) == 2
    assert "offset=2" in r.headers["warning"] and "fuzzymatching" in r.headers["warning"]
    assert served.get("/studies?NoSuchKeyword=1").status_code == 400
    assert served.get("/studies?limit=x").status_code == 400


def test_wado_sends_the_stored_bytes_metadata_and_frames(served: Served) -> None:
    client = served.client()
    by_uid = {
        ds.SOPInstanceUID: ds for ds in client.retrieve_study(served.study)
    }  # parsed by pydicom: compare bytes through the raw retrieve below
    assert served.held not in by_uid
    rose = next(u for u, p in served.stored.items() if p.name == "vlp_rose.dcm")
    raw = served.get(
        f"/studies/{served.study}/series/{served.series}/instances/{rose}",
        Accept='multipart/related; type="application/dicom"',
    )
    assert raw.status_code == 200
    assert served.stored[rose].read_bytes() in raw.content  # the stored file, unchanged
    instance = client.retrieve_instance(served.study, served.series, rose)
    assert instance.file_meta.TransferSyntaxUID == JPEG_BASELINE
    # A client that takes only Explicit VR Little Endian gets the object decoded.
    plain = client.retrieve_instance(
        served.study, served.series, rose, media_types=(("application/dicom", EXPLICIT_LE),)
    )
    assert plain.file_meta.TransferSyntaxUID == EXPLICIT_LE
    assert plain.SOPInstanceUID == rose and plain.PixelData == decoded_pixels(served.stored[rose])
    series = client.retrieve_series(served.study, served.series)
    assert {ds.SOPInstanceUID for ds in series} == {
        u for u, p in served.stored.items() if p.name.startswith("vlp_") and u != served.held
    }

    metadata = client.retrieve_series_metadata(served.study, served.series)
    mine = next(m for m in metadata if _values(m, "00080018") == [rose])
    assert _values(mine, "00083002") == [JPEG_BASELINE]
    assert mine["7FE00010"]["BulkDataURI"].endswith(
        f"/studies/{served.study}/series/{served.series}/instances/{rose}/frames/1"
    )
    assert _values(mine, "00100010") == [{"Alphabetic": "Corpus^Sample"}]
    assert served.held not in {_values(m, "00080018")[0] for m in metadata}
    assert len(client.retrieve_study_metadata(served.study)) >= len(metadata)

    stored = pydicom.dcmread(served.stored[rose])
    (bitstream,) = generate_frames(stored.PixelData, number_of_frames=1)
    (frame,) = client.retrieve_instance_frames(
        served.study, served.series, rose, [1], media_types=(("image/jpeg", JPEG_BASELINE),)
    )
    assert frame == bitstream  # the camera's JPEG, byte for byte
    r = served.get(
        f"/studies/{served.study}/series/{served.series}/instances/{rose}/frames/1",
        Accept="multipart/related; type=image/jpeg; transfer-syntax=*",
    )
    assert f"image/jpeg; transfer-syntax={JPEG_BASELINE}" in r.text[:200]
    (native,) = client.retrieve_instance_frames(
        served.study,
        served.series,
        rose,
        [1],
        media_types=(("application/octet-stream", EXPLICIT_LE),),
    )
    assert native == decoded_pixels(served.stored[rose])  # decoded: nothing else accepted
    r = served.get(
        f"/studies/{served.study}/series/{served.series}/instances/{rose}/frames/1,1",
        Accept="image/jpeg",
    )
    assert r.status_code == 400  # more frames than the instance has

    endo = client.search_for_instances(study_instance_uid=ENDOSCOPY_STUDY)
    first = endo[0]
    study, series_uid, sop = (
        _values(first, "0020000D")[0],
        _values(first, "0020000E")[0],
        _values(first, "00080018")[0],
    )
    (pixels,) = client.retrieve_instance_frames(
        study, series_uid, sop, [1], media_types=("application/octet-stream",)
    )
    ds = client.retrieve_instance(study, series_uid, sop)
    assert pixels == ds.PixelData
    assert len(pixels) == ds.Rows * ds.Columns  # 8-bit greyscale

    # Video has no single frames: 406 with the reason.
    video_series = pydicom.dcmread(served.stored[served.video], stop_before_pixels=True)
    r = served.get(
        f"/studies/{served.study}/series/{video_series.SeriesInstanceUID}"
        f"/instances/{served.video}/frames/1",
        Accept="multipart/related; type=application/octet-stream",
    )
    assert r.status_code == 406 and "video" in r.json()["error"]["message"]


def test_rendered_and_thumbnail_come_from_the_viewers_renderer(served: Served) -> None:
    rose = next(u for u, p in served.stored.items() if p.name == "vlp_rose.dcm")
    instance = f"/studies/{served.study}/series/{served.series}/instances/{rose}"
    r = served.get(f"{instance}/rendered?viewport=100,100", Accept="image/jpeg")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.content.startswith(b"\xff\xd8") and r.content.endswith(b"\xff\xd9")
    assert "viewport" in r.headers["warning"]
    assert (
        served.client().retrieve_instance_rendered(
            served.study, served.series, rose, media_types=("image/jpeg",)
        )
        == r.content
    )
    thumb = served.get(f"{instance}/thumbnail")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert len(thumb.content) < len(r.content)
    assert served.get(f"{instance}/rendered", Accept="image/gif").status_code == 406
    other = f"/studies/{served.study}/series/{served.scenario.studies['vital']}/instances/{rose}"
    assert served.get(f"{other}/rendered").status_code == 404  # not in that series


def test_hidden_is_absent_on_every_endpoint_and_the_look_is_refused(served: Served) -> None:
    sc = served.scenario
    held_uid, quarantined_uid = sc.uids["held"], sc.uids["quarantined"]
    with served.archive.sessions() as s:
        from archive.models import Instance, Series

        def series_of(uid: str) -> str:
            return str(
                s.scalar(
                    select(Series.series_instance_uid)
                    .join(Instance, Instance.series_pk == Series.pk)
                    .where(Instance.sop_instance_uid == uid)
                )
            )

        targets = [
            (sc.studies["held"], series_of(held_uid), held_uid),
            (sc.studies["quarantined"], series_of(quarantined_uid), quarantined_uid),
            (served.study, served.series, served.held),  # held by governance in a visible study
        ]
    for study, series, sop in targets:
        for path in (
            f"/studies/{study}/series/{series}/instances/{sop}",
            f"/studies/{study}/series/{series}/instances/{sop}/metadata",
            f"/studies/{study}/series/{series}/instances/{sop}/frames/1",
            f"/studies/{study}/series/{series}/instances/{sop}/rendered",
            f"/studies/{study}/series/{series}/instances/{sop}/thumbnail",
        ):
            before = served.refused()
            r = served.get(path)
            assert r.status_code == 404, (path, r.status_code)
            assert sop not in r.text
            assert served.refused() == before + 1, path
        if study == sc.studies["held"]:  # nothing in it is visible (a consent SR would be)
            for path in (
                f"/studies/{study}",
                f"/studies/{study}/series",
                f"/studies/{study}/metadata",
            ):
                before = served.refused()
                assert served.get(path).status_code == 404, path
                assert served.refused() == before + 1, path
    found = served.client().search_for_instances()
    assert not {held_uid, quarantined_uid, served.held} & {_values(i, "00080018")[0] for i in found}

    # No session: 401 (no redirect to the sign-in page); an administrator sees nothing.
    r = requests.get(f"{served.base}/dicomweb/studies", timeout=30, allow_redirects=False)
    assert r.status_code == 401 and r.json()["error"]["code"] == "not_signed_in"
    assert "access-control-allow-origin" not in r.headers  # CORS stays off
    admin = served.client(_sign_in(served.base, "ada", ""))
    with pytest.raises(requests.HTTPError) as refused:
        admin.search_for_studies()
    assert refused.value.response.status_code == 404


def test_the_session_must_have_a_purpose(served: Served) -> None:
    token = _sign_in(served.base, "cara", "")
    r = served.get("/studies", Authorization=f"Bearer {token}")
    assert r.status_code == 403 and r.json()["error"]["code"] == "purpose_required"
