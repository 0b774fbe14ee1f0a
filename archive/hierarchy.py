"""The patient-study-series-instance hierarchy of the index: joining it in a
query (:func:`instance_join`), and extending it at ingest: find the series an
arriving object joins, or create it (with its study and patient), checking
that the object names the same person as the index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Self, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.dicomfile import ObjectAttributes, person_name_groups
from archive.errors import InconsistentObject
from archive.models import Instance, Patient, Series, Study


class _Joinable(Protocol):  # a Select, whose type parameters differ in SQLAlchemy 2.0 and 2.1
    def join(
        self, target: Any, onclause: Any = ..., *, isouter: bool = ..., full: bool = ...
    ) -> Self: ...


S = TypeVar("S", bound=_Joinable)


def instance_join(stmt: S, *, patient: bool = True) -> S:
    """``stmt``, which selects from :class:`Instance`, joined up to each instance's
    series, study and (unless ``patient`` is false) patient."""
    stmt = stmt.join(Series, Instance.series_pk == Series.pk).join(
        Study, Series.study_pk == Study.pk
    )
    return stmt.join(Patient, Study.patient_pk == Patient.pk) if patient else stmt


@dataclass(frozen=True)
class SeriesRef:
    """The series an arriving object joins, with what the consent rules need."""

    pk: int
    modality: str
    birth_date: str
    mismatch: tuple[str, ...] = ()  # identity fields that differ from the index (held)


def series_for(
    session: Session, attrs: ObjectAttributes, *, hold_mismatch: bool = False
) -> SeriesRef:
    """The object's series, created (with its study and patient) if new.

    The common case — another object of a known series — is one query."""
    known = session.execute(
        select(
            Series.pk,
            Series.modality,
            Study.study_instance_uid,
            Patient.patient_id,
            Patient.issuer_of_patient_id,
            Patient.patient_birth_date,
            Patient.patient_name,
            Patient.patient_sex,
        )
        .join(Study, Series.study_pk == Study.pk)
        .join(Patient, Study.patient_pk == Patient.pk)
        .where(Series.series_instance_uid == attrs.series_instance_uid)
    ).first()
    if known is not None:
        pk, modality, study_uid, patient_id, issuer, birth_date, name, sex = known
        if study_uid != attrs.study_instance_uid:
            raise InconsistentObject(
                f"series {attrs.series_instance_uid} already belongs to another study"
            )
        if (patient_id, issuer) != (attrs.patient_id, attrs.issuer_of_patient_id):
            raise InconsistentObject(
                f"study {attrs.study_instance_uid} already belongs to another patient"
            )
        differ = _check_identity(
            attrs, name=name, birth_date=birth_date, sex=sex, hold=hold_mismatch
        )
        return SeriesRef(pk, modality, birth_date, differ)
    return _create_series(session, attrs, hold_mismatch=hold_mismatch)


def _name_key(name: str) -> str:
    """A person name compared as a person would: case, spaces and empty trailing
    components do not count (``Doe^Jane^^`` is ``DOE^Jane``)."""
    groups = [
        "^".join(" ".join(part.split()) for part in group.split("^")).rstrip("^")
        for group in name.casefold().split("=")
    ]
    return "=".join(groups).rstrip("=")


def _check_identity(
    attrs: ObjectAttributes, *, name: str, birth_date: str, sex: str, hold: bool
) -> tuple[str, ...]:
    """An object for a known PatientID must name the same person: a different name,
    birth date or sex is refused (or, with ``hold``, returned so that the object is
    held for governance review), never stored silently under the indexed identity.
    A value the object leaves empty is not a difference."""
    differ = [
        what
        for what, ours, theirs in (
            ("name", _name_key(name), _name_key(attrs.patient_name)),
            ("birth date", birth_date.strip(), attrs.patient_birth_date.strip()),
            ("sex", sex.strip().upper(), attrs.patient_sex.strip().upper()),
        )
        if ours and theirs and ours != theirs
    ]
    if differ and not hold:
        raise InconsistentObject(
            f"identity differs from the index ({', '.join(differ)}) for patient "
            f"{attrs.patient_id}: a wrong patient, or demographics to correct first"
        )
    return tuple(differ)


def mismatch_reason(differ: tuple[str, ...]) -> str:
    """Why an arrival is held: which identity fields differ (never their values)."""
    return (
        f"identity differs from the index ({', '.join(differ)}): held until governance "
        "confirms the patient"
    )


def _create_series(session: Session, attrs: ObjectAttributes, *, hold_mismatch: bool) -> SeriesRef:
    patient, differ = _patient(session, attrs, hold_mismatch=hold_mismatch)
    study = _study(session, attrs, patient)
    series = session.scalar(
        select(Series).where(Series.series_instance_uid == attrs.series_instance_uid)
    )
    if series is None:
        series = Series(
            series_instance_uid=attrs.series_instance_uid,
            study_pk=study.pk,
            modality=attrs.modality,
            series_number=attrs.series_number,
            series_description=attrs.series_description,
            body_part_examined=attrs.body_part_examined,
        )
        session.add(series)
        session.flush()
    elif series.study_pk != study.pk:
        raise InconsistentObject(
            f"series {attrs.series_instance_uid} already belongs to another study"
        )
    return SeriesRef(series.pk, series.modality, patient.patient_birth_date, differ)


def _patient(
    session: Session, attrs: ObjectAttributes, *, hold_mismatch: bool
) -> tuple[Patient, tuple[str, ...]]:
    """The object's patient, created if new; a known one is checked for the same
    identity (returning what differs, when held rather than refused)."""
    patient = session.scalar(
        select(Patient).where(
            Patient.patient_id == attrs.patient_id,
            Patient.issuer_of_patient_id == attrs.issuer_of_patient_id,
        )
    )
    if patient is not None:
        differ = _check_identity(
            attrs,
            name=patient.patient_name,
            birth_date=patient.patient_birth_date,
            sex=patient.patient_sex,
            hold=hold_mismatch,
        )
        return patient, differ
    alpha, ideo, phon = person_name_groups(attrs.patient_name)
    patient = Patient(
        patient_id=attrs.patient_id,
        issuer_of_patient_id=attrs.issuer_of_patient_id,
        patient_name=attrs.patient_name,
        patient_name_alpha=alpha,
        patient_name_ideo=ideo,
        patient_name_phon=phon,
        patient_birth_date=attrs.patient_birth_date,
        patient_sex=attrs.patient_sex,
    )
    session.add(patient)
    session.flush()
    return patient, ()


def _study(session: Session, attrs: ObjectAttributes, patient: Patient) -> Study:
    """The object's study, created if new; a known one must be this patient's."""
    study = session.scalar(
        select(Study).where(Study.study_instance_uid == attrs.study_instance_uid)
    )
    if study is None:
        ralpha, rideo, rphon = person_name_groups(attrs.referring_physician_name)
        study = Study(
            study_instance_uid=attrs.study_instance_uid,
            patient_pk=patient.pk,
            study_date=attrs.study_date,
            study_time=attrs.study_time,
            accession_number=attrs.accession_number,
            study_id=attrs.study_id,
            study_description=attrs.study_description,
            referring_physician_name=attrs.referring_physician_name,
            referring_physician_name_alpha=ralpha,
            referring_physician_name_ideo=rideo,
            referring_physician_name_phon=rphon,
        )
        session.add(study)
        session.flush()
    elif study.patient_pk != patient.pk:
        raise InconsistentObject(
            f"study {attrs.study_instance_uid} already belongs to another patient"
        )
    return study
