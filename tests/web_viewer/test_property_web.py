"""The hidden-objects property through the web viewer: random archives and random
availability/consent changes; a clinician working for care never sees a held,
quarantined or erased recording — not in search counts, timelines, image
pages, thumbnails or downloads (404) — and sees every visible one; the
governance review queue lists exactly the held and quarantined ones."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from archive import Availability, Level
from archive.models import Instance
from tests.archive.test_property_hidden import _act, _build, action_st, fresh_archive, instance_st
from tests.conftest import BACKENDS, property_settings
from tests.factory import VL_ENDOSCOPIC, VL_PHOTO
from tests.web_viewer.helpers import add_user, choose, make_client, open_review, sign_in

EXAMPLES = {"sqlite": 15, "postgresql": 4}


@pytest.mark.parametrize("backend", BACKENDS)
def test_hidden_recordings_never_reach_a_web_page(backend: str) -> None:
    @property_settings(backend, EXAMPLES)
    @given(st.lists(instance_st, min_size=1, max_size=8), st.lists(action_st, max_size=5))
    def run(specs: list[dict[str, object]], actions: list[tuple[str, Level, int]]) -> None:
        with fresh_archive(backend) as archive, tempfile.TemporaryDirectory() as tmp:
            _build(archive, specs)
            for action in actions:
                _act(archive, action)
            with archive.sessions() as s:
                rows = s.execute(
                    select(
                        Instance.sop_instance_uid, Instance.availability, Instance.use_care
                    ).where(Instance.sop_class_uid.in_([VL_PHOTO, VL_ENDOSCOPIC]))
                ).all()
            visible = {u for u, a, care in rows if a is Availability.ACTIVE and care}
            reviewable = {
                u for u, a, _ in rows if a in (Availability.HELD, Availability.QUARANTINED)
            }
            add_user(archive, "clin", "clinician")
            add_user(archive, "ig", "governance")
            clin = make_client(archive, Path(tmp))
            sign_in(clin, "clin")
            choose(clin, "care")
            found = clin.get("/api/patients", params={"name": "*"}).json()["patients"]
            shown: set[str] = set()
            for patient in found:
                timeline = clin.get(f"/api/patients/{patient['patient_id']}").json()
                for study in timeline["studies"]:
                    for items in study["sites"].values():
                        shown |= {i["sop_instance_uid"] for i in items}
            assert shown == visible
            for uid, _, _ in rows:
                expected = 200 if uid in visible else 404
                assert clin.get(f"/api/images/{uid}").status_code == expected
                assert clin.get(f"/images/{uid}").status_code == expected
                assert clin.get(f"/api/images/{uid}/thumbnail").status_code == expected
                assert clin.get(f"/api/images/{uid}/dicom").status_code == expected
            ig = make_client(archive, Path(tmp))
            sign_in(ig, "ig")
            choose(ig, "governance")
            open_review(ig)
            queue = {r["sop_instance_uid"] for r in ig.get("/api/review").json()["items"]}
            assert queue & {u for u, _, _ in rows} == reviewable

    run()
