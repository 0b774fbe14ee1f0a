"""DICOM store benchmark on loopback: dcmtk `storescu` pushes the same workload
to photopacs (SQLite and PostgreSQL), a bare pynetdicom receiver, dcmtk
`storescp +xa` and Orthanc (Debian package, default SQLite index), with 1 and
with 4 concurrent senders; then C-FIND latency by PatientID and by name
wildcard against photopacs and Orthanc (minus a bare C-ECHO).

    .venv/bin/python -m bench.store_bench [--instances 1000] [--runs 3] [--sizes big,small]

Prints instances/s, MB/s and receiver CPU ms per instance (medians of the
runs) and the ratios to the bare pynetdicom receiver and to Orthanc.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from archive import (
    Actor,
    Archive,
    ArchiveSettings,
)
from tests.dicom_gateway.dcmtk import echo_ok
from tests.serving import terminate
from tests.support import CORPUS, find_tool

REPO = Path(__file__).resolve().parent.parent
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ENV = {**os.environ, "TCP_NODELAY": "1"}
TICK = os.sysconf("SC_CLK_TCK")
SENDER = "BENCH"
SURNAMES = ["Smith", "Jones", "Taylor", "Brown", "Müller", "Øster", "Wilson", "Evans"]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and of its live descendants (the extra
    receiving processes of ``--dicom-workers``), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    own = sum(int(f) for f in fields[11:13]) / TICK
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(c) for c in children.read_text().split()] if children.exists() else []
    return own + sum(cpu_seconds(k) for k in kids)


VL_ENDOSCOPIC = "1.2.840.10008.5.1.4.1.1.77.1.1"


def make_workload(
    folder: Path, *, template: Path, count: int, patients: int, endoscopic: bool = False
) -> int:
    """``count`` copies of ``template`` with fresh UIDs over ``patients`` patients
    (``endoscopic``: as VL Endoscopic images, which need no recorded consent)."""
    folder.mkdir(parents=True)
    base = pydicom.dcmread(template)
    if endoscopic:
        base.SOPClassUID = base.file_meta.MediaStorageSOPClassUID = VL_ENDOSCOPIC
        base.Modality = "ES"
    total = 0
    studies: dict[int, tuple[str, str]] = {}
    for i in range(count):
        p = i % patients
        if p not in studies:
            studies[p] = (generate_uid(), generate_uid())
        ds = base.copy()
        ds.PatientID = f"BP{p:04d}"
        ds.PatientName = f"{SURNAMES[p % len(SURNAMES)]}{p:04d}^Alex"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = studies[p]
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = i + 1
        path = folder / f"{i % 4}" / f"{ds.SOPInstanceUID}.dcm"
        path.parent.mkdir(exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
        total += path.stat().st_size
    return total


def dcmtk(name: str) -> str:
    """dcmtk's ``name`` from PATH, never pynetdicom's script of the same name."""
    path = find_tool(name, "dcmtk")
    if path is None:
        raise SystemExit(f"dcmtk's {name} is missing: apt-get install dcmtk")
    return path


def echo(port: int, called: str) -> bool:
    return echo_ok(port, called=called, calling=SENDER)


@dataclass
class Receiver:
    name: str
    aet: str
    port: int
    proc: subprocess.Popen[bytes]


@contextmanager
def process(
    name: str, aet: str, port: int, command: list[str], env: dict[str, str], log: Path
) -> Iterator[Receiver]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while not echo(port, aet):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield Receiver(name, aet, port, proc)
    finally:
        terminate(proc)


def photopacs(postgres: bool, label: str, workers: int = 1) -> Callable[[Path], object]:
    @contextmanager
    def start(tmp: Path) -> Iterator[Receiver]:
        if postgres:
            with pg_schema() as url, _photopacs(url, label, tmp, workers) as rec:
                yield rec
        else:
            with _photopacs("", label, tmp, workers) as rec:
                yield rec

    return start


@contextmanager
def _photopacs(database_url: str, label: str, tmp: Path, workers: int) -> Iterator[Receiver]:
    if True:
        settings = ArchiveSettings(data_dir=tmp / "data", database_url=database_url or None,
                                   min_free_bytes=0)  # fmt: skip
        with Archive(settings) as arc:
            arc.migrate()
        with Archive.open(settings) as arc:
            bench = Actor.operator("bench")
            arc.add_node(SENDER, host="127.0.0.1", port=104, role="modality", requester=bench)
            arc.add_node("BENCHQ", host="127.0.0.1", port=105, role="epr", requester=bench)
        port = free_port()
        env = {**ENV, "PHOTOPACS_DATA_DIR": str(settings.data_dir),
               "PHOTOPACS_DATABASE_URL": settings.resolved_database_url(),
               "PHOTOPACS_MIN_FREE_BYTES": "0"}  # fmt: skip
        cmd = [str(Path(sys.executable).parent / "photopacs"), "serve", "--dicom-port", str(port),
               "--http-port", str(free_port()), "--dicom-workers", str(workers)]  # fmt: skip
        with process(label, "PHOTOPACS", port, cmd, env, tmp / "photopacs.log") as rec:
            if workers > 1:  # every receiving process listening before the clock starts
                deadline = time.monotonic() + 60
                while len(_listeners(port)) < workers and time.monotonic() < deadline:
                    time.sleep(0.1)
            rec.settings = settings  # type: ignore[attr-defined]
            yield rec


def _listeners(port: int) -> list[str]:
    """Listening sockets on ``port`` (one per receiving process with SO_REUSEPORT)."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return [r for r in rows if r.split()[1].endswith(f":{port:04X}") and r.split()[3] == "0A"]


@contextmanager
def bare(tmp: Path) -> Iterator[Receiver]:
    port = free_port()
    cmd = [sys.executable, "-m", "bench.bare_scp", str(port), str(tmp / "out")]
    with process("pynetdicom bare", "BARE", port, cmd, ENV, tmp / "bare.log") as rec:
        yield rec


@contextmanager
def storescp(tmp: Path) -> Iterator[Receiver]:
    port = free_port()
    (tmp / "out").mkdir()
    cmd = [dcmtk("storescp"), "--aetitle", "STORESCP", "+xa", "-od", str(tmp / "out"), str(port)]
    with process("dcmtk storescp", "STORESCP", port, cmd, ENV, tmp / "storescp.log") as rec:
        yield rec


@contextmanager
def orthanc(tmp: Path) -> Iterator[Receiver]:
    port = free_port()
    config = {
        "Name": "bench", "StorageDirectory": str(tmp / "storage"),
        "IndexDirectory": str(tmp / "index"), "DicomAet": "ORTHANC", "DicomPort": port,
        "HttpPort": free_port(), "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
        "DicomAlwaysAllowFind": True, "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True, "DicomCheckCalledAet": False, "Plugins": [],
        "StorageCompression": False, "ConcurrentJobs": 2,
    }  # fmt: skip
    path = tmp / "orthanc.json"
    path.write_text(json.dumps(config))
    with process("Orthanc", "ORTHANC", port, ["Orthanc", str(path)], ENV,
                 tmp / "orthanc.log") as rec:  # fmt: skip
        yield rec


def store_run(rec: Receiver, workload: Path, senders: int) -> float:
    """Seconds for ``senders`` concurrent storescu processes to push the workload."""
    parts = sorted(p for p in workload.iterdir() if p.is_dir())
    groups: list[list[Path]] = [[] for _ in range(senders)]
    for i, part in enumerate(parts):
        groups[i % senders].append(part)
    storescu = dcmtk("storescu")
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                storescu,
                "-aet",
                SENDER,
                "-aec",
                rec.aet,
                "-xy",
                "+sd",
                "127.0.0.1",
                str(rec.port),
                *map(str, group),
            ],
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for group in groups
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError(f"storescu to {rec.name} failed: {err.decode()[-500:]}")
    return time.perf_counter() - start


@dataclass
class Result:
    name: str
    size: str
    senders: int
    rate: float
    mbps: float
    cpu_ms: float


def bench_store(
    name: str, factory: Callable[[Path], object], *, size: str, template: Path,
    count: int, senders: int,
) -> Result:  # fmt: skip
    """One run: a fresh receiver, a fresh workload, ``senders`` storescu processes."""
    with tempfile.TemporaryDirectory(prefix="storebench-") as tmp_name:
        tmp = Path(tmp_name)
        total = make_workload(tmp / "work", template=template, count=count, patients=100)
        with factory(tmp) as rec:  # type: ignore[attr-defined]
            before = cpu_seconds(rec.proc.pid)
            seconds = store_run(rec, tmp / "work", senders)
            cpu = cpu_seconds(rec.proc.pid) - before
    return Result(name, size, senders, count / seconds, total / seconds / 1e6, cpu * 1000 / count)


def median_of(runs: list[Result]) -> Result:
    first = runs[0]
    return Result(first.name, first.size, first.senders,
                  statistics.median(r.rate for r in runs), statistics.median(r.mbps for r in runs),
                  statistics.median(r.cpu_ms for r in runs))  # fmt: skip


def findscu_ms(port: int, aet: str, calling: str, keys: list[str], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        args = [dcmtk("findscu"), "-aet", calling, "-aec", aet, "-P"]
        for key in keys:
            args += ["-k", key]
        start = time.perf_counter()
        subprocess.run([*args, "127.0.0.1", str(port)], env=ENV, capture_output=True,
                       check=True)  # fmt: skip
        times.append((time.perf_counter() - start) * 1000)
    return times


def echoscu_ms(port: int, aet: str, calling: str, repeat: int) -> list[float]:
    times = []
    echoscu = dcmtk("echoscu")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([echoscu, "-aet", calling, "-aec", aet, "127.0.0.1", str(port)],
                       env=ENV, capture_output=True, check=True)  # fmt: skip
        times.append((time.perf_counter() - start) * 1000)
    return times


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_find(name: str, factory: Callable[[Path], object], *, template: Path, count: int,
               repeat: int, calling: str) -> list[str]:  # fmt: skip
    """Load ``count`` endoscopic images (visible for care at once, so no consent
    recording in the way) over count/10 patients, then time findscu minus echoscu."""
    lines = []
    with tempfile.TemporaryDirectory(prefix="findbench-") as tmp_name:
        tmp = Path(tmp_name)
        make_workload(tmp / "work", template=template, count=count,
                      patients=max(100, count // 10), endoscopic=True)  # fmt: skip
        with factory(tmp) as rec:  # type: ignore[attr-defined]
            load = store_run(rec, tmp / "work", 4)
            print(f"  {name}: loaded {count} in {load:.0f} s", flush=True)
            base = statistics.median(echoscu_ms(rec.port, rec.aet, calling, repeat))
            for label, keys in (
                ("PatientID", ["QueryRetrieveLevel=STUDY", "PatientID=BP0042",
                               "StudyInstanceUID", "PatientName"]),
                ("name wildcard", ["QueryRetrieveLevel=STUDY", "PatientName=Smith00*",
                                   "StudyInstanceUID", "PatientID"]),
            ):  # fmt: skip
                ms = [t - base for t in findscu_ms(rec.port, rec.aet, calling, keys, repeat)]
                lines.append(
                    f"| {name} | {count} | {label} | {pct(ms, 0.5):.1f} | {pct(ms, 0.95):.1f} |"
                )
    return lines


@contextmanager
def pg_schema() -> Iterator[str]:
    admin = create_engine(PG_URL)
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={name}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", default="big,small")
    parser.add_argument("--senders", default="1,4")
    parser.add_argument("--find-repeat", type=int, default=20)
    parser.add_argument("--find-instances", type=int, default=0, help="[--instances]")
    parser.add_argument("--no-store", action="store_true", help="only the C-FIND part")
    parser.add_argument(
        "--find-receivers",
        default="photopacs SQLite 2 proc,photopacs PostgreSQL 2 proc,Orthanc",
        help="receivers of the C-FIND part, comma-separated",
    )
    parser.add_argument("--skip", default="", help="receivers to leave out, comma-separated")
    args = parser.parse_args()
    templates = {
        "big": CORPUS / "dicom" / "vlp_rose.dcm",
        "small": CORPUS / "dicom" / "vlp_tiny.dcm",
    }
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if True:
        receivers: list[tuple[str, Callable[[Path], object]]] = [
            ("photopacs SQLite", photopacs(False, "photopacs SQLite")),
            ("photopacs PostgreSQL", photopacs(True, "photopacs PostgreSQL")),
            ("photopacs SQLite 2 proc", photopacs(False, "photopacs SQLite 2 proc", 2)),
            ("photopacs PostgreSQL 2 proc", photopacs(True, "photopacs PostgreSQL 2 proc", 2)),
            ("pynetdicom bare", bare),
            ("dcmtk storescp", storescp),
        ]
        if shutil.which("Orthanc"):
            receivers.append(("Orthanc", orthanc))
        receivers = [(n, f) for n, f in receivers if n not in skip]
        results: list[Result] = []
        for size in [] if args.no_store else args.sizes.split(","):
            for senders in (int(s) for s in args.senders.split(",")):
                samples: dict[str, list[Result]] = {name: [] for name, _ in receivers}
                for _run in range(args.runs):  # receivers take turns, run by run
                    for name, factory in receivers:
                        one = bench_store(name, factory, size=size, template=templates[size],
                                          count=args.instances, senders=senders)  # fmt: skip
                        samples[name].append(one)
                        print(f"  {name} {size} x{senders}: {one.rate:.0f}/s", flush=True)
                results.extend(median_of(runs) for runs in samples.values())
        if results:
            print_store(results)
        print("\n| receiver | instances | C-FIND | p50 ms | p95 ms |\n|---|---|---|---|---|")
        wanted = [n.strip() for n in args.find_receivers.split(",") if n.strip()]
        find_targets = [(n, f) for n, f in receivers if n in wanted]
        for name, factory in find_targets:
            for line in bench_find(name, factory, template=templates["small"],
                                   count=args.find_instances or args.instances,
                                   repeat=args.find_repeat, calling="BENCHQ"):  # fmt: skip
                print(line, flush=True)


def print_store(results: list[Result]) -> None:
    print("\n| receiver | workload | senders | instances/s | MB/s | CPU ms/instance "
          "| vs bare (rate) | vs Orthanc (rate) | vs Orthanc (CPU) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        same = {x.name: x for x in results if x.size == r.size and x.senders == r.senders}
        bare_r = same.get("pynetdicom bare")
        orth = same.get("Orthanc")
        print(
            f"| {r.name} | {r.size} | {r.senders} | {r.rate:.0f} | {r.mbps:.1f} "
            f"| {r.cpu_ms:.2f} | {r.rate / bare_r.rate if bare_r else float('nan'):.2f}x "
            f"| {r.rate / orth.rate if orth else float('nan'):.2f}x "
            f"| {r.cpu_ms / orth.cpu_ms if orth else float('nan'):.2f}x |"
        )


if __name__ == "__main__":
    main()
