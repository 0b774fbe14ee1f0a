"""The DICOM Conformance Statement says what the gateway does: its generated
tables equal what the code makes now, and the AE that `serve` builds supports
exactly the SOP classes and syntaxes the statement lists."""

from __future__ import annotations

import re

from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION

from archive import Archive
from archive.uids import STORAGE_CLASSES, syntaxes_for
from dicom_gateway import GatewaySettings
from dicom_gateway.ae import build_ae
from dicom_gateway.conformance import MARK, SECTIONS, render
from tests.support import REPO

DOC = REPO / "docs" / "conformance.md"


def test_the_generated_tables_match_the_code() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert render(text) == text, (
        "docs/conformance.md is out of date: "
        "run .venv/bin/python -m dicom_gateway.conformance docs/conformance.md"
    )
    assert {m.group("name") for m in MARK.finditer(text)} == set(SECTIONS)


def test_the_statement_lists_what_the_ae_supports(archive: Archive) -> None:
    bound = build_ae(GatewaySettings(), archive, aet="PHOTOPACS")
    supported = {str(cx.abstract_syntax): cx for cx in bound.ae.supported_contexts}
    text = DOC.read_text(encoding="utf-8")
    listed = set(re.findall(r"\| `(1\.2\.840\.10008\.5\.1\.4\.1\.1\.[0-9.]+)` \|", text))
    assert listed == set(STORAGE_CLASSES)
    for uid in STORAGE_CLASSES:
        assert [str(ts) for ts in supported[uid].transfer_syntax] == [
            str(ts) for ts in syntaxes_for(uid)
        ]
    sections = {m.group("name"): m.group(3) for m in MARK.finditer(text)}
    services = re.findall(r"\| `(1\.2\.840\.10008\.[0-9.]+)` \| yes \|", sections["services"])
    assert supported.keys() - STORAGE_CLASSES == set(services)
    assert PYNETDICOM_IMPLEMENTATION_UID in text and PYNETDICOM_IMPLEMENTATION_VERSION in text
