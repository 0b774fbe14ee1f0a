"""Archive-core benchmark: ingest N synthetic VL Photographic instances through
the archive API, then time queries by PatientID and by patient-name wildcard,
on SQLite and PostgreSQL, in one run.

    .venv/bin/python -m bench.ingest_query [--instances 10000] [--patients 1000]

Prints instances/s for ingest and p50/p95 latency per query kind. Each query
includes its audit event, as in production.
"""

from __future__ import annotations

import argparse
import io
import random
import tempfile
import time
import uuid
from pathlib import Path

import pydicom
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from archive import (
    Actor,
    Archive,
    ArchiveSettings,
    ConsentRequest,
    Level,
    Origin,
    Purpose,
    Role,
)
from consent_sr import ConsentStatus
from tests.factory import VL_PHOTO, encode, make_dataset

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
OP = Actor(actor="bench", role=Role.OPERATOR, purpose=Purpose.CARE)
SURNAMES = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Müller", "Øster"]


def workload(instances: int, patients: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    per_study = 5
    out: list[bytes] = []
    study_uid = series_uid = ""
    p = 0
    for i in range(instances):
        first = i % per_study == 0
        if first:
            # Every patient gets studies; the rest are spread at random.
            p = (
                (i // per_study) % patients
                if i // per_study < patients
                else rng.randrange(patients)
            )
        ds = make_dataset(
            patient_id=f"PID{p:06d}",
            patient_name=f"{SURNAMES[p % len(SURNAMES)]}{p:06d}^Alex",
            study_uid=None if first else study_uid,
            series_uid=None if first else series_uid,
            sop_class=VL_PHOTO,
            pixel_bytes=2048,
            instance_number=i,
            study_date=f"2025{1 + p % 12:02d}{1 + p % 28:02d}",
        )
        study_uid, series_uid = ds.StudyInstanceUID, ds.SeriesInstanceUID
        out.append(encode(ds))
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_backend(
    name: str, url: str, data: list[bytes], patients: int, queries: int
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = ArchiveSettings(data_dir=Path(tmp) / "data", database_url=url, min_free_bytes=0)
        arc = Archive(settings)
        arc.migrate()
        arc.close()
        studies = {
            pydicom.dcmread(io.BytesIO(b), stop_before_pixels=True).StudyInstanceUID for b in data
        }
        with Archive.open(settings) as archive:
            origin = Origin(Actor.operator("bench"), received_from="BENCH")
            start = time.perf_counter()
            for blob in data:
                archive.ingest(blob, origin=origin)
            ingest_s = time.perf_counter() - start
            # Photos wait for consent: record level-1 consent for every study
            # (not timed) so the queries below find what a clinician would.
            for study_uid in sorted(studies):
                archive.record_consent(
                    ConsentRequest(
                        study_instance_uid=study_uid,
                        status=ConsentStatus.GIVEN,
                        level="record",
                        consenter="patient",
                        form="written",
                        recorded_by="Bench^Nurse",
                    ),
                    requester=Actor.operator("test"),
                )
            rng = random.Random(11)
            by_id: list[float] = []
            by_name: list[float] = []
            for _ in range(queries):
                p = rng.randrange(patients)
                t0 = time.perf_counter()
                archive.find(
                    Level.STUDY,
                    {"PatientID": f"PID{p:06d}", "StudyInstanceUID": "", "PatientName": ""},
                    requester=OP,
                )
                by_id.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                archive.find(
                    Level.PATIENT,
                    {
                        "PatientName": f"{SURNAMES[p % len(SURNAMES)].lower()}{p // 10:05d}*",
                        "PatientID": "",
                    },
                    requester=OP,
                )
                by_name.append((time.perf_counter() - t0) * 1000)
    return {
        "ingest_per_s": len(data) / ingest_s,
        "id_p50": pct(by_id, 0.5),
        "id_p95": pct(by_id, 0.95),
        "name_p50": pct(by_name, 0.5),
        "name_p95": pct(by_name, 0.95),
    }


def pg_schema() -> tuple[str, str]:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    engine.dispose()
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={name}"})
    return name, url.render_as_string(hide_password=False)


def drop_schema(name: str) -> None:
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--patients", type=int, default=1_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    print(f"generating {args.instances} instances over {args.patients} patients ...")
    data = workload(args.instances, args.patients)
    rows = []
    for backend in args.backends.split(","):
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                rows.append(
                    (
                        "sqlite",
                        run_backend(
                            "sqlite",
                            f"sqlite:///{tmp}/index.sqlite3",
                            data,
                            args.patients,
                            args.queries,
                        ),
                    )
                )
        else:
            schema, url = pg_schema()
            try:
                rows.append(
                    (
                        "postgresql",
                        run_backend("postgresql", url, data, args.patients, args.queries),
                    )
                )
            finally:
                drop_schema(schema)
    print()
    print(f"{args.instances} instances, {args.patients} patients, {args.queries} queries each")
    print(
        f"{'backend':<12}{'ingest/s':>10}{'ID p50 ms':>11}{'ID p95 ms':>11}"
        f"{'name* p50':>11}{'name* p95':>11}"
    )
    for name, r in rows:
        print(
            f"{name:<12}{r['ingest_per_s']:>10.0f}{r['id_p50']:>11.2f}{r['id_p95']:>11.2f}"
            f"{r['name_p50']:>11.2f}{r['name_p95']:>11.2f}"
        )


if __name__ == "__main__":
    main()
