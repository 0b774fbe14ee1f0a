"""A consent SR and its PDF form travel over DICOM to dcmtk's storescp, and the
files storescp wrote are read back with pydicom + highdicom only, checking the
codes of TEMPLATE.md literally (consent_sr is used only to build the objects)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import highdicom as hd
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    ComprehensiveSRStorage,
    EncapsulatedPDFStorage,
    Verification,
)

from consent_sr import build_consent_form_pdf, build_consent_sr
from tests.consent_sr.helpers import CHILD, COVERED, CREATED, PRIOR_SR, STUDY, consent, minimal_pdf
from tests.support import require_tool

pytestmark = pytest.mark.dcmtk

SCP_AET = "STORESCP"
PURPOSE = "Poster at the BAD annual meeting, Liverpool, July 2026"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _echo(port: int) -> bool:
    ae = AE(ae_title="PHOTOPACS")
    ae.acse_timeout = 2
    ae.network_timeout = 2
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title=SCP_AET)
    if not assoc.is_established:
        return False
    try:
        status = assoc.send_c_echo()
        return bool(status) and status.Status == 0x0000
    finally:
        assoc.release()


@pytest.fixture
def storescp(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """storescp on a free port, polled with C-ECHO until it answers; always stopped."""
    exe = require_tool("storescp", "dcmtk")
    port = _free_port()
    out = tmp_path / "received"
    out.mkdir()
    log = (tmp_path / "storescp.log").open("wb")
    proc = subprocess.Popen(
        [exe, "--aetitle", SCP_AET, "--output-directory", str(out), str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        while not _echo(port):
            if proc.poll() is not None:
                pytest.fail(f"storescp exited with {proc.returncode}")
            if time.monotonic() > deadline:
                pytest.fail("storescp did not answer C-ECHO within 15 s")
            time.sleep(0.05)  # poll interval, not a wait for readiness
        yield port, out
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _send(port: int, *datasets: Dataset) -> None:
    ae = AE(ae_title="PHOTOPACS")
    ae.add_requested_context(ComprehensiveSRStorage, ExplicitVRLittleEndian)
    ae.add_requested_context(EncapsulatedPDFStorage, ExplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", port, ae_title=SCP_AET)
    assert assoc.is_established
    try:
        for ds in datasets:
            status = assoc.send_c_store(ds)
            assert status and status.Status == 0x0000
    finally:
        assoc.release()


def _code(item: Dataset, keyword: str = "ConceptCodeSequence") -> tuple[str, str, str]:
    code = item[keyword][0]
    return (code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning)


def _one(sr: Dataset, value: str, scheme: str, **kwargs: str) -> Dataset:
    items = hd.sr.utils.find_content_items(sr, name=Code(value, scheme, "x"), **kwargs)  # type: ignore[arg-type]
    assert len(items) == 1, (value, scheme, items)
    return items[0]


def test_consent_sr_and_form_via_storescp(storescp: tuple[int, Path]) -> None:
    port, out = storescp
    form = build_consent_form_pdf(minimal_pdf(), patient=CHILD, study=STUDY)
    given = consent(
        level="specified",
        purpose=PURPOSE,
        also_teaching=True,
        consenter="parent",
        consenter_name="Nguyễn^Lan",
        circumstances="Mother present; child agreed.",
        signed_form=form,
        supersedes=[PRIOR_SR],
    )
    sr_ds = build_consent_sr(given, patient=CHILD, study=STUDY, content_datetime=CREATED)
    _send(port, sr_ds, form)

    received = {pydicom.dcmread(path).SOPInstanceUID: path for path in out.iterdir()}
    assert set(received) == {sr_ds.SOPInstanceUID, form.SOPInstanceUID}

    # the SR, read back by highdicom
    sr = hd.sr.srread(received[sr_ds.SOPInstanceUID])
    assert isinstance(sr, hd.sr.ComprehensiveSR)
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"
    assert sr.SpecificCharacterSet == "ISO_IR 192"
    assert sr.PatientName == "Nguyễn^Minh"
    assert sr.StudyInstanceUID == STUDY.study_instance_uid
    assert sr.Modality == "SR"
    assert sr.CompletionFlag == "COMPLETE"
    assert _code(sr, "ConceptNameCodeSequence") == ("59284-0", "LN", "Patient Consent")
    assert sr.ContinuityOfContent == "SEPARATE"
    template = sr.ContentTemplateSequence[0]
    assert (template.MappingResource, template.TemplateIdentifier) == ("99PHOTOPACS", "CONSENT1")
    assert template.MappingResourceUID == "2.25.143789775240414515577591748947393532525"
    scheme = sr.CodingSchemeIdentificationSequence[0]
    assert scheme.CodingSchemeDesignator == "99PHOTOPACS"
    assert scheme.CodingSchemeUID == "2.25.205396652338487377826127245960514262760"
    assert _code(sr, "PerformedProcedureCodeSequence") == (
        "197157006",
        "SCT",
        "Photography of patient",
    )

    observer = _one(sr, "121005", "DCM", relationship_type="HAS OBS CONTEXT")
    assert _code(observer) == ("121006", "DCM", "Person")
    assert _one(sr, "121008", "DCM").PersonName == "Photographer^Pat"
    assert _code(_one(sr, "CONSENT-STATUS", "99PHOTOPACS", value_type="CODE")) == (
        "122004",
        "DCM",
        "Patient informed consent given",
    )
    assert _one(sr, "DECISION-DT", "99PHOTOPACS").DateTime == "20250304093015+0000"
    assert _code(_one(sr, "CONSENT-LEVEL", "99PHOTOPACS"))[:2] == ("LEVEL-3", "99PHOTOPACS")
    assert _one(sr, "PURPOSE", "99PHOTOPACS", value_type="TEXT").TextValue == PURPOSE
    also = _one(sr, "ALSO-PERMITTED", "99PHOTOPACS", value_type="CODE")
    assert also.RelationshipType == "CONTAINS"
    assert _code(also, "ConceptNameCodeSequence") == (
        "ALSO-PERMITTED",
        "99PHOTOPACS",
        "Also permitted use",
    )
    assert _code(also) == ("113004", "DCM", "For Teaching")
    consenter = _one(sr, "CONSENTER", "99PHOTOPACS")
    assert _code(consenter) == ("40683002", "SCT", "Parent")
    (name,) = consenter.ContentSequence
    assert (name.RelationshipType, name.ValueType) == ("HAS PROPERTIES", "PNAME")
    assert _code(name, "ConceptNameCodeSequence") == ("113870", "DCM", "Person Name")
    assert name.PersonName == "Nguyễn^Lan"
    assert _code(_one(sr, "CONSENT-FORM", "99PHOTOPACS"))[:2] == ("WRITTEN", "99PHOTOPACS")
    assert _one(sr, "CIRCUMSTANCES", "99PHOTOPACS").TextValue == "Mother present; child agreed."
    signed = _one(sr, "SIGNED-FORM", "99PHOTOPACS", value_type="COMPOSITE")
    assert signed.ReferencedSOPSequence[0].ReferencedSOPClassUID == "1.2.840.10008.5.1.4.1.1.104.1"
    assert signed.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == form.SOPInstanceUID
    covered = hd.sr.utils.find_content_items(
        sr, name=Code("COVERED", "99PHOTOPACS", "x"), value_type="IMAGE"
    )
    assert {item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for item in covered} == {
        ref.sop_instance_uid for ref in COVERED
    }
    for absent in ("NO-CONSENT-BASIS", "AUTHORISED-BY", "INTIMATE-JUSTIF"):
        assert not hd.sr.utils.find_content_items(sr, name=Code(absent, "99PHOTOPACS", "x"))
    evidence = {uid for _, _, uid, _ in sr.get_evidence()}
    assert evidence == {ref.sop_instance_uid for ref in COVERED} | {form.SOPInstanceUID}
    predecessor = sr.PredecessorDocumentsSequence[0].ReferencedSeriesSequence[0]
    assert predecessor.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == (
        PRIOR_SR.sop_instance_uid
    )

    # the form, read back by pydicom
    pdf = pydicom.dcmread(received[form.SOPInstanceUID])
    assert pdf.SOPClassUID == "1.2.840.10008.5.1.4.1.1.104.1"
    assert pdf.StudyInstanceUID == sr.StudyInstanceUID
    assert pdf.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert _code(pdf, "ConceptNameCodeSequence") == ("59284-0", "LN", "Patient Consent")
    assert pdf.EncapsulatedDocument[: pdf.EncapsulatedDocumentLength] == minimal_pdf()
