"""Read a consent SR back into the model: tolerant, but never credulous.

Any SR storage SOP class (PS3.3 A.35) whose root concept is (59284-0, LN,
"Patient Consent") or whose Content Template Sequence names template CONSENT1
is a consent SR. Reading walks the whole content tree, matches items by concept
name (equivalent schemes accepted, see ``codes.code_key``), ignores what it does
not know and reports every deviation in ``ConsentDocument.problems``. Only a
missing or unknown consent status, or no date at all, makes reading fail.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

from pydicom.dataset import Dataset

from consent_sr import codes
from consent_sr._values import read_date, read_datetime, read_time
from consent_sr.codes import CodeKey, code_key, key_of, reverse
from consent_sr.enum import ConsentLevel, ConsentStatus
from consent_sr.errors import ConsentParseError, NotAConsentSR
from consent_sr.model import Consent, ConsentDocument, InstanceRef, Patient, Study
from consent_sr.validate import ENCAPSULATED_PDF_STORAGE, SR_STORAGE_CLASSES

__all__ = ["is_consent_sr", "parse_consent_sr"]

_E = TypeVar("_E", bound=Enum)

_STATUS = reverse(codes.STATUS_CODES)
_LEVEL = reverse(codes.LEVEL_CODES)
_CONSENTER = reverse(codes.CONSENTER_CODES)
_FORM = reverse(codes.FORM_CODES)
_BASIS = reverse(codes.BASIS_CODES)

_K_STATUS = key_of(codes.CONSENT_STATUS)
_K_LEVEL = key_of(codes.CONSENT_LEVEL)
_K_PURPOSE = key_of(codes.SPECIFIED_PURPOSE)
_K_ALSO_PERMITTED = key_of(codes.ALSO_PERMITTED)
_K_FOR_TEACHING = key_of(codes.FOR_TEACHING)
_K_CONSENTER = key_of(codes.CONSENTER)
_K_PERSON_NAME = key_of(codes.PERSON_NAME)
_K_DECIDED = key_of(codes.DECISION_DATETIME)
_K_FORM = key_of(codes.CONSENT_FORM)
_K_BASIS = key_of(codes.BASIS)
_K_AUTHORISED = key_of(codes.AUTHORISED_BY)
_K_CIRCUMSTANCES = key_of(codes.CIRCUMSTANCES)
_K_INTIMATE = key_of(codes.INTIMATE_JUSTIFICATION)
_K_SIGNED_FORM = key_of(codes.SIGNED_FORM)
_K_COVERED = key_of(codes.COVERED)
_K_COMMENT = key_of(codes.COMMENT)
_K_OBSERVER_NAME = key_of(codes.PERSON_OBSERVER_NAME)
_K_TITLE = key_of(codes.DOCUMENT_TITLE)

_EXPECTED_TYPE: dict[CodeKey, tuple[str, ...]] = {
    _K_STATUS: ("CODE",),
    _K_LEVEL: ("CODE",),
    _K_PURPOSE: ("TEXT",),
    _K_ALSO_PERMITTED: ("CODE",),
    _K_CONSENTER: ("CODE",),
    _K_PERSON_NAME: ("PNAME",),
    _K_DECIDED: ("DATETIME",),
    _K_FORM: ("CODE",),
    _K_BASIS: ("CODE",),
    _K_AUTHORISED: ("PNAME",),
    _K_CIRCUMSTANCES: ("TEXT",),
    _K_INTIMATE: ("TEXT",),
    _K_SIGNED_FORM: ("COMPOSITE", "IMAGE"),
    _K_COVERED: ("IMAGE", "COMPOSITE"),
    _K_COMMENT: ("TEXT",),
    _K_OBSERVER_NAME: ("PNAME",),
}


def _has_template(ds: Dataset) -> bool:
    for item in ds.get("ContentTemplateSequence", None) or []:
        if str(item.get("TemplateIdentifier", "")).strip() != codes.TEMPLATE_ID:
            continue
        resource = str(item.get("MappingResource", "")).strip()
        resource_uid = str(item.get("MappingResourceUID", "")).strip()
        if (
            resource == codes.TEMPLATE_MAPPING_RESOURCE
            or resource_uid == codes.TEMPLATE_MAPPING_RESOURCE_UID
        ):
            return True
    return False


def _concept(item: Dataset, keyword: str, private: frozenset[str]) -> CodeKey | None:
    sequence = item.get(keyword, None)
    if not sequence:
        return None
    code = sequence[0]
    value = code.get("CodeValue") or code.get("LongCodeValue") or code.get("URNCodeValue")
    scheme = code.get("CodingSchemeDesignator", "")
    if not value:
        return None
    return code_key(str(scheme), str(value), private=private)


def is_consent_sr(ds: Dataset) -> bool:
    """Whether ``ds`` is a consent SR: an SR storage SOP class with template
    CONSENT1 or root concept (59284-0, LN, "Patient Consent")."""
    if str(ds.get("SOPClassUID", "")) not in SR_STORAGE_CLASSES:
        return False
    if _has_template(ds):
        return True
    return _concept(ds, "ConceptNameCodeSequence", codes.private_designators(ds)) == _K_TITLE


@dataclass
class _Item:
    """One content item met while walking the tree."""

    key: CodeKey | None
    value_type: str
    relationship: str
    ds: Dataset
    parent: CodeKey | None


def _walk(
    node: Dataset, private: frozenset[str], parent: CodeKey | None, depth: int = 0
) -> Iterator[_Item]:
    if depth > 32:  # hostile or corrupt nesting
        return
    for child in node.get("ContentSequence", None) or []:
        key = _concept(child, "ConceptNameCodeSequence", private)
        yield _Item(
            key=key,
            value_type=str(child.get("ValueType", "")).strip(),
            relationship=str(child.get("RelationshipType", "")).strip(),
            ds=child,
            parent=parent,
        )
        yield from _walk(child, private, key, depth + 1)


def _referenced(item: Dataset) -> tuple[str, str] | None:
    sequence = item.get("ReferencedSOPSequence", None)
    if not sequence:
        return None
    ref = sequence[0]
    sop_class = str(ref.get("ReferencedSOPClassUID", "")).strip()
    sop_instance = str(ref.get("ReferencedSOPInstanceUID", "")).strip()
    if not sop_instance:
        return None
    return sop_class, sop_instance


def _hierarchical(ds: Dataset, *keywords: str) -> list[InstanceRef]:
    """Flatten Hierarchical SOP Instance Reference Macro sequences (PS3.3 C.17-3)."""
    refs: list[InstanceRef] = []
    for keyword in keywords:
        for study in ds.get(keyword, None) or []:
            for series in study.get("ReferencedSeriesSequence", None) or []:
                for sop in series.get("ReferencedSOPSequence", None) or []:
                    refs.append(
                        InstanceRef(
                            study_instance_uid=str(study.get("StudyInstanceUID", "")),
                            series_instance_uid=str(series.get("SeriesInstanceUID", "")),
                            sop_class_uid=str(sop.get("ReferencedSOPClassUID", "")),
                            sop_instance_uid=str(sop.get("ReferencedSOPInstanceUID", "")),
                        )
                    )
    return refs


def parse_consent_sr(ds: Dataset) -> ConsentDocument:
    """Read a consent SR (template CONSENT1, TEMPLATE.md) into a ``ConsentDocument``.

    Raises ``NotAConsentSR`` for any other dataset and ``ConsentParseError`` when
    the consent status or every date is missing; anything else is tolerated and
    listed in ``ConsentDocument.problems``.
    """
    if not is_consent_sr(ds):
        raise NotAConsentSR(
            f"not a consent SR (SOP class {ds.get('SOPClassUID', '?')}, "
            f"no {codes.TEMPLATE_ID} template and no root concept 59284-0 LN)"
        )
    problems: list[str] = []
    private = codes.private_designators(ds)
    if not _has_template(ds):
        problems.append(f"no Content Template Sequence naming {codes.TEMPLATE_ID}")
    items = _Items(ds, private, problems)
    status_item, status = _status(items)
    decided_at = _decided_at(ds, items.one(_K_DECIDED), status_item, problems)
    recorded_by = items.text(_K_OBSERVER_NAME, "PersonName") or _fallback_observer(ds, problems)
    consenter_name = _consenter_name(items.all(_K_PERSON_NAME), problems)
    study_uid = str(ds.get("StudyInstanceUID", ""))
    signed_form, covered = _references(ds, items, study_uid)
    level, also_teaching = _level(items)
    consent = Consent(
        status=status,
        decided_at=decided_at,
        recorded_by=recorded_by,
        covered=covered,
        level=level,
        purpose=items.text(_K_PURPOSE, "TextValue"),
        also_teaching=also_teaching,
        consenter=items.coded(_K_CONSENTER, _CONSENTER, "consenter"),
        consenter_name=consenter_name,
        form=items.coded(_K_FORM, _FORM, "consent form"),
        basis=items.coded(_K_BASIS, _BASIS, "basis"),
        authorised_by=items.text(_K_AUTHORISED, "PersonName"),
        circumstances=items.text(_K_CIRCUMSTANCES, "TextValue"),
        intimate_justification=items.text(_K_INTIMATE, "TextValue"),
        signed_form=signed_form,
        supersedes=_hierarchical(ds, "PredecessorDocumentsSequence"),
        comment=items.text(_K_COMMENT, "TextValue"),
    )
    return ConsentDocument(
        consent=consent,
        patient=Patient.from_dataset(ds, problems),
        study=Study.from_dataset(ds, problems),
        document=InstanceRef(
            study_instance_uid=study_uid,
            series_instance_uid=str(ds.get("SeriesInstanceUID", "")),
            sop_class_uid=str(ds.get("SOPClassUID", "")),
            sop_instance_uid=str(ds.get("SOPInstanceUID", "")),
        ),
        content_datetime=_content_datetime(ds, problems),
        complete=str(ds.get("CompletionFlag", "")).strip() == "COMPLETE",
        verified_by=_verifier(ds),
        problems=tuple(problems),
    )


class _Items:
    """The document's content items by concept name, as the template expects them
    (unknown, unnamed or mistyped items are ignored and noted in ``problems``)."""

    def __init__(self, ds: Dataset, private: frozenset[str], problems: list[str]) -> None:
        self.private = private
        self.problems = problems
        self.found: dict[CodeKey, list[_Item]] = {}
        for item in _walk(ds, private, _K_TITLE):
            if item.key is None:
                if item.value_type not in ("IMAGE", "COMPOSITE"):
                    problems.append(f"ignored a {item.value_type or '?'} item without concept name")
                continue
            expected = _EXPECTED_TYPE.get(item.key)
            if expected is None:
                if item.relationship != "HAS OBS CONTEXT":  # other observer context is fine
                    problems.append(f"ignored unknown {item.value_type} item {item.key}")
                continue
            if item.value_type not in expected:
                problems.append(
                    f"ignored {item.key}: value type {item.value_type}, not {expected[0]}"
                )
                continue
            self.found.setdefault(item.key, []).append(item)

    def all(self, key: CodeKey) -> list[_Item]:
        return self.found.get(key, [])

    def one(self, key: CodeKey) -> _Item | None:
        items = self.all(key)
        if len(items) > 1:
            self.problems.append(f"{len(items)} items {key}; the first is used")
        return items[0] if items else None

    def text(self, key: CodeKey, attribute: str) -> str | None:
        item = self.one(key)
        if item is None:
            return None
        value = str(item.ds.get(attribute, "") or "").strip()
        return value or None

    def coded(self, key: CodeKey, table: dict[CodeKey, _E], what: str) -> _E | None:
        item = self.one(key)
        if item is None:
            return None
        value = _concept(item.ds, "ConceptCodeSequence", self.private)
        member = table.get(value) if value is not None else None
        if member is None:
            self.problems.append(f"unknown {what} code {value}; ignored")
        return member


def _status(items: _Items) -> tuple[_Item, ConsentStatus]:
    """The consent status item and its value; without one there is no consent."""
    status_item = items.one(_K_STATUS)
    if status_item is None:
        raise ConsentParseError("the document has no consent status item")
    status_key = _concept(status_item.ds, "ConceptCodeSequence", items.private)
    status = _STATUS.get(status_key) if status_key is not None else None
    if status is None:
        raise ConsentParseError(f"unknown consent status code {status_key}")
    return status_item, status


def _consenter_name(names: list[_Item], problems: list[str]) -> str | None:
    nested = [item for item in names if item.parent == _K_CONSENTER]
    if not names:
        return None
    chosen = (nested or names)[0]
    if not nested:
        problems.append("consenter's name is not nested under the consenter item")
    return str(chosen.ds.get("PersonName", "") or "").strip() or None


def _references(
    ds: Dataset, items: _Items, study_uid: str
) -> tuple[InstanceRef | None, list[InstanceRef]]:
    """The signed form and the covered recordings, resolved against the evidence
    sequences (which also stand in for covered items when there are none)."""
    problems = items.problems
    evidence = {
        ref.sop_instance_uid: ref
        for ref in _hierarchical(
            ds, "CurrentRequestedProcedureEvidenceSequence", "PertinentOtherEvidenceSequence"
        )
    }

    def resolve(item: _Item, what: str) -> InstanceRef | None:
        referenced = _referenced(item.ds)
        if referenced is None:
            problems.append(f"{what} item without a referenced SOP instance; ignored")
            return None
        sop_class, sop_instance = referenced
        ref = evidence.get(sop_instance)
        if ref is None:
            problems.append(f"{what} {sop_instance} is not listed in the evidence sequences")
            return InstanceRef(study_uid, "", sop_class, sop_instance)
        return ref

    signed_item = items.one(_K_SIGNED_FORM)
    signed_form = resolve(signed_item, "signed form") if signed_item is not None else None
    covered = [
        ref for item in items.all(_K_COVERED) if (ref := resolve(item, "covered")) is not None
    ]
    if not covered:
        covered = [
            ref
            for ref in evidence.values()
            if signed_form is None or ref.sop_instance_uid != signed_form.sop_instance_uid
        ]
        covered = [ref for ref in covered if ref.sop_class_uid != ENCAPSULATED_PDF_STORAGE]
        if covered:
            problems.append("no covered-recording items; covered read from the evidence")
    return signed_form, covered


def _level(items: _Items) -> tuple[ConsentLevel | None, bool]:
    """The consent level, and whether a level-3 consent also permits teaching."""
    level = items.coded(_K_LEVEL, _LEVEL, "consent level")
    also_teaching = _also_teaching(items.all(_K_ALSO_PERMITTED), items.private, items.problems)
    if also_teaching and level is not ConsentLevel.SPECIFIED:
        # never credulous: a stray item must not widen a level-1 consent
        shown = f"level {level.number}" if level is not None else "no level"
        items.problems.append(f"also-teaching item on a consent with {shown}; ignored")
        also_teaching = False
    return level, also_teaching


def _also_teaching(items: list[_Item], private: frozenset[str], problems: list[str]) -> bool:
    """Whether an also-permitted-use item says teaching; absent reads as False."""
    teaching = 0
    for item in items:
        value = _concept(item.ds, "ConceptCodeSequence", private)
        if value == _K_FOR_TEACHING:
            teaching += 1
        else:
            problems.append(f"unknown also-permitted use code {value}; ignored")
    if teaching > 1:
        problems.append(f"{teaching} also-permitted teaching items; read as one")
    return teaching > 0


def _decided_at(
    ds: Dataset, item: _Item | None, status_item: _Item, problems: list[str]
) -> datetime.datetime:
    if item is not None:
        value = read_datetime(item.ds.get("DateTime", ""))
        if value is not None:
            return value
        problems.append("decision date-time is malformed")
    observed = read_datetime(status_item.ds.get("ObservationDateTime", ""))
    if observed is not None:
        problems.append("no decision date-time; used the status item's Observation DateTime")
        return observed
    content = _content_datetime(ds, problems)
    if content is not None:
        problems.append("no decision date-time; used the document's Content Date/Time")
        return content
    raise ConsentParseError("the document has no decision date-time and no content date")


def _content_datetime(ds: Dataset, problems: list[str]) -> datetime.datetime | None:
    day = read_date(ds, "ContentDate", problems)
    if day is None:
        return None
    moment = read_time(ds, "ContentTime", problems) or datetime.time()
    return datetime.datetime.combine(day, moment)


def _fallback_observer(ds: Dataset, problems: list[str]) -> str:
    for item in ds.get("AuthorObserverSequence", None) or []:
        name = str(item.get("PersonName", "") or "").strip()
        if name:
            problems.append("no observer context; recorded_by read from Author Observer")
            return name
    verifier = _verifier(ds)
    if verifier:
        problems.append("no observer context; recorded_by read from Verifying Observer")
        return verifier
    problems.append("no observer: recorded_by is empty")
    return ""


def _verifier(ds: Dataset) -> str | None:
    if str(ds.get("VerificationFlag", "")).strip() != "VERIFIED":
        return None
    observers = ds.get("VerifyingObserverSequence", None) or []
    if not observers:
        return None
    return str(observers[-1].get("VerifyingObserverName", "") or "").strip() or None
