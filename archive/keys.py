"""The one map from DICOM keywords to index columns, with each key's
matching kind (PS3.4 C.6 keys; matching per PS3.4 C.2.2.2)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import InstrumentedAttribute

from archive.models import Instance, Patient, Series, Study


class Level(enum.IntEnum):
    """Query/Retrieve levels, ordered from the top of the hierarchy."""

    PATIENT = 0
    STUDY = 1
    SERIES = 2
    IMAGE = 3

    @classmethod
    def parse(cls, text: str) -> Level:
        name = text.strip().upper()
        if name == "INSTANCE":
            name = "IMAGE"
        try:
            return cls[name]
        except KeyError:
            raise ValueError(f"unknown query level {text!r}") from None


class Kind(enum.Enum):
    STRING = "string"  # single value, wildcard; case-sensitive
    PERSON = "person"  # like STRING, but case-insensitive on folded columns
    DATE = "date"  # single value or range
    TIME = "time"  # single value or range
    UID = "uid"  # single value or list; no wildcards
    INTEGER = "integer"  # single value
    COUNT = "count"  # computed, return only
    MODALITIES = "modalities"  # computed; matching = any of the listed values


@dataclass(frozen=True)
class Key:
    keyword: str
    level: Level
    kind: Kind
    column: InstrumentedAttribute[Any] | None = None
    folded: tuple[InstrumentedAttribute[str], ...] = ()


def _k(
    keyword: str,
    level: Level,
    kind: Kind,
    column: InstrumentedAttribute[Any] | None = None,
    folded: tuple[InstrumentedAttribute[str], ...] = (),
) -> Key:
    return Key(keyword, level, kind, column, folded)


P, ST, SE, IM = Level.PATIENT, Level.STUDY, Level.SERIES, Level.IMAGE

KEYS: dict[str, Key] = {
    k.keyword: k
    for k in (
        _k("PatientID", P, Kind.STRING, Patient.patient_id),
        _k("IssuerOfPatientID", P, Kind.STRING, Patient.issuer_of_patient_id),
        _k(
            "PatientName",
            P,
            Kind.PERSON,
            Patient.patient_name,
            (Patient.patient_name_alpha, Patient.patient_name_ideo, Patient.patient_name_phon),
        ),
        _k("PatientBirthDate", P, Kind.DATE, Patient.patient_birth_date),
        _k("PatientSex", P, Kind.STRING, Patient.patient_sex),
        _k("NumberOfPatientRelatedStudies", P, Kind.COUNT),
        _k("NumberOfPatientRelatedSeries", P, Kind.COUNT),
        _k("NumberOfPatientRelatedInstances", P, Kind.COUNT),
        _k("StudyInstanceUID", ST, Kind.UID, Study.study_instance_uid),
        _k("StudyDate", ST, Kind.DATE, Study.study_date),
        _k("StudyTime", ST, Kind.TIME, Study.study_time),
        _k("AccessionNumber", ST, Kind.STRING, Study.accession_number),
        _k("StudyID", ST, Kind.STRING, Study.study_id),
        _k("StudyDescription", ST, Kind.STRING, Study.study_description),
        _k(
            "ReferringPhysicianName",
            ST,
            Kind.PERSON,
            Study.referring_physician_name,
            (
                Study.referring_physician_name_alpha,
                Study.referring_physician_name_ideo,
                Study.referring_physician_name_phon,
            ),
        ),
        _k("ModalitiesInStudy", ST, Kind.MODALITIES),
        _k("NumberOfStudyRelatedSeries", ST, Kind.COUNT),
        _k("NumberOfStudyRelatedInstances", ST, Kind.COUNT),
        _k("SeriesInstanceUID", SE, Kind.UID, Series.series_instance_uid),
        _k("Modality", SE, Kind.STRING, Series.modality),
        _k("SeriesNumber", SE, Kind.INTEGER, Series.series_number),
        _k("SeriesDescription", SE, Kind.STRING, Series.series_description),
        _k("BodyPartExamined", SE, Kind.STRING, Series.body_part_examined),
        _k("NumberOfSeriesRelatedInstances", SE, Kind.COUNT),
        _k("SOPInstanceUID", IM, Kind.UID, Instance.sop_instance_uid),
        _k("SOPClassUID", IM, Kind.UID, Instance.sop_class_uid),
        _k("InstanceNumber", IM, Kind.INTEGER, Instance.instance_number),
        _k("ContentDate", IM, Kind.DATE, Instance.content_date),
        _k("ContentTime", IM, Kind.TIME, Instance.content_time),
        _k("NumberOfFrames", IM, Kind.INTEGER, Instance.number_of_frames),
    )
}

# The unique key of each level (PS3.4 C.6.1.1 / C.6.2.1), always returned.
UNIQUE: dict[Level, str] = {
    P: "PatientID",
    ST: "StudyInstanceUID",
    SE: "SeriesInstanceUID",
    IM: "SOPInstanceUID",
}
