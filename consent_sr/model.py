"""The typed consent model: what a consent SR document says, and about whom.

``Consent`` is the content of one consent document (template CONSENT1, see
TEMPLATE.md); ``Patient`` and ``Study`` are the identity the document carries in
its Patient and General Study modules (PS3.3 C.7.1.1, C.7.2.1);
``ConsentDocument`` is what ``parse_consent_sr`` returns.

Constructing a model never validates clinical rules: a parsed document must be
representable even when it breaks them. ``build_consent_sr`` validates (strict on
write); ``validate_consent`` does so on demand.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from pydicom.dataset import Dataset

from consent_sr._values import read_date, read_time
from consent_sr.enum import (
    ConsentBasis,
    Consenter,
    ConsentForm,
    ConsentLevel,
    ConsentStatus,
    PatientSex,
)
from consent_sr.errors import ConsentValidationError

__all__ = [
    "Consent",
    "ConsentDocument",
    "InstanceRef",
    "Patient",
    "Study",
]


@dataclass(frozen=True, slots=True)
class InstanceRef:
    """A reference to one composite instance (PS3.3 Table C.17-3, hierarchical reference)."""

    study_instance_uid: str
    series_instance_uid: str
    sop_class_uid: str
    sop_instance_uid: str

    @classmethod
    def from_dataset(cls, ds: Dataset) -> InstanceRef:
        """The reference to a pydicom dataset (an image, a PDF, a prior consent SR)."""
        missing = [
            keyword
            for keyword in (
                "StudyInstanceUID",
                "SeriesInstanceUID",
                "SOPClassUID",
                "SOPInstanceUID",
            )
            if not ds.get(keyword)
        ]
        if missing:
            raise ConsentValidationError("ds", f"dataset lacks {', '.join(missing)}")
        return cls(
            study_instance_uid=str(ds.StudyInstanceUID),
            series_instance_uid=str(ds.SeriesInstanceUID),
            sop_class_uid=str(ds.SOPClassUID),
            sop_instance_uid=str(ds.SOPInstanceUID),
        )


_E = TypeVar("_E", ConsentStatus, ConsentLevel, Consenter, ConsentForm, ConsentBasis)

RefLike = InstanceRef | Dataset
"""What the model accepts wherever it records a reference."""


def _ref(value: RefLike, argument: str) -> InstanceRef:
    if isinstance(value, InstanceRef):
        return value
    if isinstance(value, Dataset):
        try:
            return InstanceRef.from_dataset(value)
        except ConsentValidationError as exc:
            raise ConsentValidationError(argument, exc.reason) from None
    raise ConsentValidationError(
        argument, f"expected an InstanceRef or a pydicom Dataset, got {type(value).__name__}"
    )


def _refs(values: Iterable[RefLike], argument: str) -> tuple[InstanceRef, ...]:
    """References in canonical order (study, series, instance UID): the order of
    references in a document carries no meaning, and this makes equality semantic."""
    if isinstance(values, (Dataset, InstanceRef, str, bytes)):
        raise ConsentValidationError(argument, "expected a sequence of references")
    refs = [_ref(value, f"{argument}[{i}]") for i, value in enumerate(values)]
    return tuple(sorted(refs, key=_ref_order))


def _ref_order(ref: InstanceRef) -> tuple[str, str, str]:
    return (ref.study_instance_uid, ref.series_instance_uid, ref.sop_instance_uid)


def _flag(value: object, argument: str) -> bool:
    """A yes/no field: only a real bool, so that e.g. the string "no" is never read as True."""
    if not isinstance(value, bool):
        raise ConsentValidationError(
            argument, f"expected True or False, got {type(value).__name__}"
        )
    return value


def _strip(value: object) -> object:
    """Surrounding whitespace is not significant in DICOM text values (PS3.5 6.2)."""
    return value.strip() if isinstance(value, str) else value


@dataclass(frozen=True, kw_only=True)
class Patient:
    """Patient module identity (PS3.3 C.7.1.1)."""

    patient_id: str
    name: str = ""
    """Patient's Name in DICOM PN form, ``Family^Given^Middle^Prefix^Suffix``."""
    birth_date: datetime.date | None = None
    sex: PatientSex | None = None

    @classmethod
    def from_dataset(cls, ds: Dataset, problems: list[str] | None = None) -> Patient:
        """The Patient module of any dataset (e.g. a photo the consent will cover).

        Malformed values read as None and are described in ``problems`` if given.
        """
        notes: list[str] = [] if problems is None else problems
        raw_sex = str(ds.get("PatientSex", "") or "").strip().upper()
        sex = None
        if raw_sex:
            try:
                sex = PatientSex(raw_sex)
            except ValueError:
                notes.append(f"Patient's Sex {raw_sex!r} is not M, F or O")
        return cls(
            patient_id=str(ds.get("PatientID", "") or ""),
            name=str(ds.get("PatientName", "") or ""),
            birth_date=read_date(ds, "PatientBirthDate", notes),
            sex=sex,
        )

    def age_on(self, day: datetime.date) -> int | None:
        """Age in whole years on ``day``, or None when the birth date is unknown."""
        if self.birth_date is None:
            return None
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - int(before_birthday)


@dataclass(frozen=True, kw_only=True)
class Study:
    """General Study module identity (PS3.3 C.7.2.1)."""

    study_instance_uid: str
    accession_number: str | None = None
    study_id: str | None = None
    study_date: datetime.date | None = None
    study_time: datetime.time | None = None

    @classmethod
    def from_dataset(cls, ds: Dataset, problems: list[str] | None = None) -> Study:
        """The General Study module of any dataset; empty values read as None."""
        notes: list[str] = [] if problems is None else problems
        return cls(
            study_instance_uid=str(ds.get("StudyInstanceUID", "") or ""),
            accession_number=str(ds.get("AccessionNumber", "") or "") or None,
            study_id=str(ds.get("StudyID", "") or "") or None,
            study_date=read_date(ds, "StudyDate", notes),
            study_time=read_time(ds, "StudyTime", notes),
        )


@dataclass(frozen=True, init=False)
class Consent:
    """One consent decision, as recorded by one consent SR document.

    References (``covered``, ``signed_form``, ``supersedes``) may be given as
    ``InstanceRef`` or as the pydicom datasets themselves; they are stored as
    ``InstanceRef``, in canonical order. Enum fields also accept their string
    values; surrounding whitespace of text and names is dropped.
    """

    status: ConsentStatus
    decided_at: datetime.datetime
    """When the decision was made (or, for IMPLICIT/PENDING, when recording was decided)."""
    recorded_by: str
    """The observer who recorded the consent (PN form), PS3.16 TID 1002."""
    covered: tuple[InstanceRef, ...]
    """The recordings this document covers, all in the document's study."""
    level: ConsentLevel | None = None
    purpose: str | None = None
    """The specified additional purpose; level SPECIFIED only."""
    also_teaching: bool = False
    """Level SPECIFIED only: teaching is permitted too ("care + teaching + the named
    purpose"); otherwise level 3 permits care and exactly the named purpose."""
    consenter: Consenter | None = None
    consenter_name: str | None = None
    """Name (PN form) of a consenter who is not the patient."""
    form: ConsentForm | None = None
    basis: ConsentBasis | None = None
    authorised_by: str | None = None
    """Consultant (PN form) who authorised recording in the patient's vital interests."""
    circumstances: str | None = None
    """Circumstances of the decision; required for a child's given consent (R10)."""
    intimate_justification: str | None = None
    """Clinical justification for recording intimate areas (R11)."""
    signed_form: InstanceRef | None = None
    """The scanned signed form, an Encapsulated PDF in the same study."""
    supersedes: tuple[InstanceRef, ...] = field(default=())
    """Consent documents this one replaces (Predecessor Documents Sequence)."""
    comment: str | None = None

    def __init__(
        self,
        *,
        status: ConsentStatus | str,
        decided_at: datetime.datetime,
        recorded_by: str,
        covered: Iterable[RefLike],
        level: ConsentLevel | str | None = None,
        purpose: str | None = None,
        also_teaching: bool = False,
        consenter: Consenter | str | None = None,
        consenter_name: str | None = None,
        form: ConsentForm | str | None = None,
        basis: ConsentBasis | str | None = None,
        authorised_by: str | None = None,
        circumstances: str | None = None,
        intimate_justification: str | None = None,
        signed_form: RefLike | None = None,
        supersedes: Iterable[RefLike] = (),
        comment: str | None = None,
    ) -> None:
        values: dict[str, object] = {
            "status": _member(ConsentStatus, status, "status"),
            "decided_at": decided_at,
            "recorded_by": _strip(recorded_by),
            "covered": _refs(covered, "covered"),
            "level": _member(ConsentLevel, level, "level"),
            "purpose": _strip(purpose),
            "also_teaching": _flag(also_teaching, "also_teaching"),
            "consenter": _member(Consenter, consenter, "consenter"),
            "consenter_name": _strip(consenter_name),
            "form": _member(ConsentForm, form, "form"),
            "basis": _member(ConsentBasis, basis, "basis"),
            "authorised_by": _strip(authorised_by),
            "circumstances": _strip(circumstances),
            "intimate_justification": _strip(intimate_justification),
            "signed_form": None if signed_form is None else _ref(signed_form, "signed_form"),
            "supersedes": _refs(supersedes, "supersedes"),
            "comment": _strip(comment),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)


def _member(enum: type[_E], value: _E | str | None, argument: str) -> _E | None:
    if value is None:
        return None
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise ConsentValidationError(argument, f"{value!r} is not one of {allowed}") from None


@dataclass(frozen=True, kw_only=True)
class ConsentDocument:
    """A parsed consent SR document: the consent plus the document's own identity."""

    consent: Consent
    patient: Patient
    study: Study
    document: InstanceRef
    """This SR instance (study, series, SOP class and SOP instance UIDs)."""
    content_datetime: datetime.datetime | None = None
    complete: bool = True
    """Completion Flag (0040,A491) is COMPLETE (False for a pending retrospective consent)."""
    verified_by: str | None = None
    """Verifying Observer Name (0040,A075) when Verification Flag is VERIFIED."""
    problems: tuple[str, ...] = ()
    """Deviations from template CONSENT1 that tolerant reading skipped or repaired."""

    @property
    def covered(self) -> tuple[InstanceRef, ...]:
        """The recordings this document covers."""
        return self.consent.covered

    @property
    def supersedes(self) -> tuple[InstanceRef, ...]:
        """The consent documents this one replaces."""
        return self.consent.supersedes

    @property
    def is_conformant(self) -> bool:
        """Whether reading needed no tolerance at all."""
        return not self.problems
