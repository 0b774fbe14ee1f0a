"""IHE IOCM rejection notes (Key Object Selection documents, PS3.3 A.35.4;
titles from PS3.16 CID 7011): receiving them quarantines the referenced
instances — even ones that arrive later — and building them tells peers
that hold copies to stop using them.

Title -> reason code:
  (113001, DCM, "Rejected for Quality Reasons")            -> quality
  (113037, DCM, "Rejected for Patient Safety Reasons")     -> patient-safety
  (113038, DCM, "Incorrect Modality Worklist Entry")       -> wrong-patient
  (113039, DCM, "Data Retention Policy Expired")           -> retention-expired
  (REVOKE-REJECTION, 99PHOTOPACS, "Revoke Rejection")      -> releases them again

Propagation (archive -> peer) maps our reason codes the other way: quality ->
113001, retention-expired -> 113039, every other reason (wrong patient,
consent withdrawn or refused, incidental capture, patient safety, governance
review, erasure) -> 113037, since a copy that must not be used is a patient
safety matter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from highdicom.ko import KeyObjectSelection, KeyObjectSelectionDocument
from highdicom.sr import CodedConcept
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from archive.uids import DOCUMENT_CLASSES, KOS

PRIVATE_SCHEME = "99PHOTOPACS"
REVOKE = "REVOKE-REJECTION"

TITLES: dict[str, tuple[str, str]] = {
    # code value -> (code meaning, our reason code)
    "113001": ("Rejected for Quality Reasons", "quality"),
    "113037": ("Rejected for Patient Safety Reasons", "patient-safety"),
    "113038": ("Incorrect Modality Worklist Entry", "wrong-patient"),
    "113039": ("Data Retention Policy Expired", "retention-expired"),
}


def title_for(reason_code: str) -> str:
    """The rejection-note title to propagate for one of our reason codes."""
    return {"quality": "113001", "retention-expired": "113039"}.get(reason_code, "113037")


@dataclass(frozen=True)
class Reference:
    study_instance_uid: str
    series_instance_uid: str
    sop_class_uid: str
    sop_instance_uid: str


@dataclass(frozen=True)
class Rejection:
    """What a received note asks: reject (with a reason code) or revoke."""

    note_uid: str
    title: str
    reason_code: str  # "" for a revocation
    revoke: bool
    references: tuple[Reference, ...]


def read_note(ds: Dataset) -> Rejection | None:
    """The rejection (or revocation) a KOS document carries; None for any other KOS."""
    if str(ds.get("SOPClassUID", "")) != KOS:
        return None
    concept = (ds.get("ConceptNameCodeSequence") or [None])[0]
    if concept is None:
        return None
    value = str(concept.get("CodeValue", ""))
    scheme = str(concept.get("CodingSchemeDesignator", ""))
    revoke = value == REVOKE and scheme == PRIVATE_SCHEME
    if not revoke and not (scheme == "DCM" and value in TITLES):
        return None
    refs: list[Reference] = []
    for study in ds.get("CurrentRequestedProcedureEvidenceSequence", []) or []:
        for series in study.get("ReferencedSeriesSequence", []) or []:
            for sop in series.get("ReferencedSOPSequence", []) or []:
                refs.append(
                    Reference(
                        study_instance_uid=str(study.get("StudyInstanceUID", "")),
                        series_instance_uid=str(series.get("SeriesInstanceUID", "")),
                        sop_class_uid=str(sop.get("ReferencedSOPClassUID", "")),
                        sop_instance_uid=str(sop.get("ReferencedSOPInstanceUID", "")),
                    )
                )
    return Rejection(
        note_uid=str(ds.get("SOPInstanceUID", "")),
        title=value,
        reason_code="" if revoke else TITLES[value][1],
        revoke=revoke,
        references=tuple(r for r in refs if r.sop_instance_uid),
    )


# Module attributes a note copies from the referenced instances (IHE IOCM: the note
# belongs to their patient and study).
PATIENT_KEYWORDS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex")
STUDY_KEYWORDS = (
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "StudyID",
    "ReferringPhysicianName",
)


def _evidence(ref: Reference, patient: Dataset, study: Dataset) -> Dataset:
    """What highdicom needs of one referenced instance: the patient and the study of
    the note (it inherits them from the first), its series and SOP identity. Rows and
    Columns (never copied into the note) make highdicom reference it as an IMAGE
    content item; documents are referenced as COMPOSITE."""
    ds = Dataset()
    for keyword in PATIENT_KEYWORDS:
        setattr(ds, keyword, patient.get(keyword, ""))
    for keyword in STUDY_KEYWORDS:
        setattr(ds, keyword, study.get(keyword, ""))
    ds.SeriesInstanceUID = ref.series_instance_uid
    ds.SOPClassUID = ref.sop_class_uid
    ds.SOPInstanceUID = ref.sop_instance_uid
    if ref.sop_class_uid not in DOCUMENT_CLASSES:
        ds.Rows = ds.Columns = 1
    return ds


def build_note(
    title: str,
    references: Sequence[Reference],
    *,
    patient: Dataset,
    study: Dataset,
    uid_root: str | None = None,
    manufacturer: str = "photopacs",
) -> Dataset:
    """A Key Object Selection rejection note (IHE IOCM) for instances of one study,
    built by :class:`highdicom.ko.KeyObjectSelectionDocument` (TID 2010): the title
    code, one CONTAINS item per instance, and the instances grouped by study and
    series in the Current Requested Procedure Evidence Sequence.

    ``patient`` and ``study`` carry the Patient and General Study module
    attributes to copy (PatientName, PatientID, PatientBirthDate, PatientSex;
    StudyInstanceUID, StudyDate, StudyTime, AccessionNumber, StudyID,
    ReferringPhysicianName). New UIDs are made under ``uid_root``.
    """
    if title == REVOKE:
        meaning, scheme = "Revoke Rejection", PRIVATE_SCHEME
    else:
        meaning, scheme = TITLES[title][0], "DCM"
    prefix = f"{uid_root}." if uid_root else None
    evidence = [_evidence(ref, patient, study) for ref in references]
    note = KeyObjectSelectionDocument(
        evidence=evidence,
        content=KeyObjectSelection(
            document_title=CodedConcept(value=title, scheme_designator=scheme, meaning=meaning),
            referenced_objects=evidence,
        ),
        series_instance_uid=generate_uid(prefix=prefix),
        series_number=9999,
        sop_instance_uid=generate_uid(prefix=prefix),
        instance_number=1,
        manufacturer=manufacturer,
        specific_character_set="ISO_IR 192",
    )
    ds = Dataset(note)
    ds.file_meta = note.file_meta
    return ds
