"""Erasure is complete: the object and every copy derived from it (thumbnail,
render) leave the data folder, and `photopacs verify-erasure` finds no copy of
an erased recording anywhere under it — or names the file that still holds one."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from archive import Actor, Archive, Availability, Level, Origin
from photopacs.cli import main
from tests.factory import encode, make_dataset
from tests.web_viewer.helpers import signed_in

OPERATOR = Actor.operator("t")
IG = Actor.operator("ig")


def _cli(archive: Archive, *args: str) -> tuple[int, str]:
    env = {
        "PHOTOPACS_DATA_DIR": str(archive.settings.data_dir),
        "PHOTOPACS_DATABASE_URL": str(archive.settings.database_url),
    }
    result = CliRunner(env=env).invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_erasure_leaves_no_copy_in_the_data_folder(archive: Archive, tmp_path: Path) -> None:
    ds = make_dataset(patient_id="ER1")  # endoscopic: visible for care on arrival
    stored = archive.ingest(encode(ds), origin=Origin(OPERATOR))
    client, _ = signed_in(archive, tmp_path, "cara", "clinician", "care")
    uid = ds.SOPInstanceUID
    assert client.get(f"/api/images/{uid}/thumbnail").status_code == 200
    assert client.get(f"/api/images/{uid}/picture").status_code == 200
    derived = archive.store.derived_copies(stored.sha256)
    assert len(derived) == 2, derived  # a thumbnail and a lossless render

    assert _cli(archive, "verify-erasure")[0] == 0
    archive.set_availability(
        Level.IMAGE, uid, Availability.ERASED, reason="not needed clinically", requester=IG
    )
    assert not any(p.exists() for p in derived)
    assert archive.store.derived_copies(stored.sha256) == []
    code, output = _cli(archive, "verify-erasure")
    assert code == 0, output
    assert "erased 1" in output and "copies found 0" in output


def test_verify_erasure_names_a_copy_left_behind(archive: Archive, tmp_path: Path) -> None:
    ds = make_dataset(patient_id="ER2")
    stored = archive.ingest(encode(ds), origin=Origin(OPERATOR))
    source = archive.store.path_for(archive.store.key_for(stored.sha256))
    exports = archive.settings.data_dir / "exports"
    exports.mkdir()
    shutil.copyfile(source, exports / "bundle-item-1.bin")  # a copy under another name
    archive.set_availability(
        Level.IMAGE, ds.SOPInstanceUID, Availability.ERASED, reason="erase", requester=IG
    )
    code, output = _cli(archive, "verify-erasure")
    assert code == 1
    assert f"LEFT {ds.SOPInstanceUID}: exports/bundle-item-1.bin" in output
