"""/healthz answers from Archive.health: the index answers and the data folder is there."""

from __future__ import annotations

from pathlib import Path

from archive import Archive
from tests.web_viewer.helpers import make_client


def test_healthz_is_ok_then_unhealthy_without_the_objects_folder(
    archive: Archive, tmp_path: Path
) -> None:
    client = make_client(archive, tmp_path)
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok", "storage": "ok"}

    objects = archive.object_path("x").parent
    objects.rename(objects.with_name("objects-away"))
    health = archive.health()
    assert (health.ok, health.database, health.storage) == (False, "ok", "missing")
    r = client.get("/healthz")
    assert r.status_code == 503
    assert r.json()["status"] == "unhealthy"
