"""Fixtures for the converter tests: people, contexts and a dciodvfy gate."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from archive.convert import CaptureContext, Demographics
from tests.support import dciodvfy

# Warnings dciodvfy may raise on our objects, each with the reason it is tolerated.
TOLERATED_WARNINGS: dict[str, str] = {
    # Study ID is Type 2 and is issued by the hospital's systems; the converter
    # never invents one, so it is empty when the caller supplies none.
    "</StudyID(0020,0010)> - Missing attribute or value that would be needed to build DICOMDIR": (
        "Study ID not supplied"
    ),
    # ISO_23008_2 (HEVC) is a defined term in PS3.3 C.7.6.1.1.5.1 since HEVC transfer
    # syntaxes were added; dicom3tools 2022 predates it in its term list.
    "</LossyImageCompressionMethod(0028,2114)[1]> - Unrecognized defined term = <ISO_23008_2>": (
        "validator's term list is older than PS3.3"
    ),
}

HEVC_SYNTAXES = ("1.2.840.10008.1.2.4.107", "1.2.840.10008.1.2.4.108")
H264_HP41 = "1.2.840.10008.1.2.4.102"


@pytest.fixture
def demographics() -> Demographics:
    return Demographics(
        patient_id="PP-0001",
        name="Müller^Zoë",
        birth_date=dt.date(1984, 2, 29),
        sex="F",
        issuer_of_patient_id="PHOTOPACS-TEST",
    )


@pytest.fixture
def context() -> CaptureContext:
    return CaptureContext(
        accession_number="ACC123",
        study_id="ST1",
        study_description="Dermatology clinic",
        series_description="Lesion photos",
        body_site="left forearm",
        operators=("Photographer^Pat",),
        institution_name="Example Hospital",
    ).with_uids()


Validate = Callable[[Dataset], Path]


@pytest.fixture
def validate(tmp_path: Path) -> Validate:
    """Write ``ds`` as a DICOM file, check it with dciodvfy and return the path.

    Any error fails; a warning fails unless it is in TOLERATED_WARNINGS.
    dicom3tools 2022 cannot parse the HEVC transfer syntaxes (it does not know
    they are encapsulated), so an HEVC object is validated as a copy labelled
    H.264 HP@L4.1: same attributes, only the transfer syntax UID differs.
    """
    counter = iter(range(1_000_000))

    def run(ds: Dataset) -> Path:
        path = tmp_path / f"object-{next(counter)}.dcm"
        ds.save_as(path, enforce_file_format=True)
        check = path
        if str(ds.file_meta.TransferSyntaxUID) in HEVC_SYNTAXES:
            copy = pydicom.dcmread(path)
            copy.file_meta.TransferSyntaxUID = H264_HP41
            check = path.with_suffix(".as-h264.dcm")
            copy.save_as(check, enforce_file_format=True)
        result = dciodvfy(check)
        assert result.errors == [], result.output
        unexpected = [w for w in result.warnings if not any(t in w for t in TOLERATED_WARNINGS)]
        assert unexpected == [], result.output
        return path

    return run
