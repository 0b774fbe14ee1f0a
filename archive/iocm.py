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
from datetime import UTC, datetime

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from archive.uids import KOS

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


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def build_note(
    title: str,
    references: Sequence[Reference],
    *,
    patient: Dataset,
    study: Dataset,
    uid_root: str | None = None,
    manufacturer: str = "photopacs",
) -> Dataset:
    """A Key Object Selection rejection note (IHE IOCM) for instances of one study.

    ``patient`` and ``study`` carry the Patient and General Study module
    attributes to copy (PatientName, PatientID, PatientBirthDate, PatientSex;
    StudyInstanceUID, StudyDate, StudyTime, AccessionNumber, StudyID,
    ReferringPhysicianName).
    """
    if title == REVOKE:
        meaning, scheme = "Revoke Rejection", PRIVATE_SCHEME
    else:
        meaning, scheme = TITLES[title][0], "DCM"
    prefix = f"{uid_root}." if uid_root else None
    now = datetime.now(UTC)
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = KOS
    ds.SOPInstanceUID = generate_uid(prefix=prefix)
    ds.InstanceCreationDate = now.strftime("%Y%m%d")
    ds.InstanceCreationTime = now.strftime("%H%M%S")
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex"):
        setattr(ds, keyword, patient.get(keyword, ""))
    for keyword in (
        "StudyInstanceUID",
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "StudyID",
        "ReferringPhysicianName",
    ):
        setattr(ds, keyword, study.get(keyword, ""))
    ds.Modality = "KO"
    ds.SeriesInstanceUID = generate_uid(prefix=prefix)
    ds.SeriesNumber = 9999
    ds.ReferencedPerformedProcedureStepSequence = DicomSequence()
    ds.Manufacturer = manufacturer
    ds.InstanceNumber = 1
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = DicomSequence([_code(title, scheme, meaning)])
    ds.ContinuityOfContent = "SEPARATE"
    template = Dataset()
    template.MappingResource = "DCMR"
    template.TemplateIdentifier = "2010"
    ds.ContentTemplateSequence = DicomSequence([template])
    by_series: dict[str, list[Reference]] = {}
    for ref in references:
        by_series.setdefault(ref.series_instance_uid, []).append(ref)
    series_items = []
    content = []
    for series_uid, refs in by_series.items():
        series_item = Dataset()
        series_item.SeriesInstanceUID = series_uid
        sop_items = []
        for ref in refs:
            sop = Dataset()
            sop.ReferencedSOPClassUID = ref.sop_class_uid
            sop.ReferencedSOPInstanceUID = ref.sop_instance_uid
            sop_items.append(sop)
            item = Dataset()
            item.RelationshipType = "CONTAINS"
            item.ValueType = "IMAGE"
            image = Dataset()
            image.ReferencedSOPClassUID = ref.sop_class_uid
            image.ReferencedSOPInstanceUID = ref.sop_instance_uid
            item.ReferencedSOPSequence = DicomSequence([image])
            content.append(item)
        series_item.ReferencedSOPSequence = DicomSequence(sop_items)
        series_items.append(series_item)
    evidence = Dataset()
    evidence.StudyInstanceUID = study.get("StudyInstanceUID", "")
    evidence.ReferencedSeriesSequence = DicomSequence(series_items)
    ds.CurrentRequestedProcedureEvidenceSequence = DicomSequence([evidence])
    ds.ContentSequence = DicomSequence(content)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(KOS)
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    return ds
