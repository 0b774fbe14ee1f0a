"""The tables of the DICOM Conformance Statement (``docs/conformance.md``),
made from the gateway's own tables so that the document cannot drift.

``python -m dicom_gateway.conformance docs/conformance.md`` rewrites the
generated sections (between ``<!-- generated: NAME -->`` and
``<!-- end: NAME -->``) in place; the prose around them is written by hand.
A test fails when the file differs from what the code says.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from archive import (
    DECODABLE,
    DOCUMENT_SYNTAXES,
    KEYS,
    PIXEL_CLASSES,
    PIXEL_SYNTAXES,
    STORAGE_CLASSES,
    UNIQUE,
    VIDEO_CLASSES,
    MatchKind,
    NodeRole,
    uid_name,
)
from dicom_gateway.associations import ALLOWED, REVIEW_SERVICES
from dicom_gateway.settings import GatewaySettings
from dicom_gateway.sop import COMMITMENT, QR_MODELS, VERIFICATION, Service

MARK = re.compile(r"(<!-- generated: (?P<name>[a-z-]+) -->\n)(.*?)(<!-- end: (?P=name) -->)", re.S)


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def storage_classes() -> str:
    """Every storage SOP class, SCP and SCU, with the syntaxes it is accepted in."""

    def kind(uid: str) -> str:
        if uid in VIDEO_CLASSES:
            return "video"
        return "image" if uid in PIXEL_CLASSES else "document / model"

    rows = [
        (uid_name(uid), f"`{uid}`", kind(uid), "yes", "yes")
        for uid in sorted(STORAGE_CLASSES, key=lambda u: (kind(u), uid_name(u)))
    ]
    return _table(("SOP class", "UID", "kind", "SCP", "SCU"), rows)


def _syntax_rows(syntaxes: Iterable[str]) -> list[tuple[str, ...]]:
    return [
        (
            str(rank),
            uid_name(ts),
            f"`{ts}`",
            "yes" if ts in DECODABLE else "no",
        )
        for rank, ts in enumerate(syntaxes, start=1)
    ]


def pixel_syntaxes() -> str:
    """The acceptor's preference for objects with pixel data, and what decodes."""
    return _table(("preference", "transfer syntax", "UID", "decoded on fallback"),
                  _syntax_rows(PIXEL_SYNTAXES))  # fmt: skip


def document_syntaxes() -> str:
    return _table(("preference", "transfer syntax", "UID", "decoded on fallback"),
                  _syntax_rows(DOCUMENT_SYNTAXES))  # fmt: skip


def services() -> str:
    """Verification, Q/R models and Storage Commitment, with their roles."""
    rows = [(uid_name(VERIFICATION), f"`{VERIFICATION}`", "yes", "yes")]
    rows += [(uid_name(uid), f"`{uid}`", "yes", "no") for uid in QR_MODELS]
    rows += [(uid_name(COMMITMENT), f"`{COMMITMENT}`", "yes", "yes")]
    return _table(("SOP class", "UID", "SCP", "SCU"), rows)


def roles() -> str:
    """Which services each registered node's role is offered."""
    order = [Service.ECHO, Service.STORE, Service.COMMIT, Service.COMMIT_REPORT, Service.FIND,
             Service.MOVE, Service.GET]  # fmt: skip
    rows = [
        (f"`{role.value}`", *("yes" if s in ALLOWED.get(role, frozenset()) else "" for s in order))
        for role in NodeRole
    ]
    rows.append(
        ("`governance` calling the review AE title", *("yes" if s in REVIEW_SERVICES else ""
                                                         for s in order))
    )  # fmt: skip
    return _table(("node role", *(str(s) for s in order)), rows)


MATCHING = {
    MatchKind.STRING: "single value, wildcard `*` `?`, universal; case-sensitive",
    MatchKind.PERSON: "as string, case-insensitive, each component group (alphabetic, ideographic, "
    "phonetic)",
    MatchKind.DATE: "single value, range",
    MatchKind.TIME: "single value, range",
    MatchKind.UID: "single value, list of UIDs",
    MatchKind.INTEGER: "single value",
    MatchKind.COUNT: "return only (computed over what the requester may see)",
    MatchKind.MODALITIES: "any of the listed values; computed over what the requester may see",
}


def query_keys() -> str:
    """The keys C-FIND matches and returns, by level (PS3.4 C.6)."""
    rows = [
        (key.level.name, f"`{key.keyword}`", "unique" if UNIQUE[key.level] == key.keyword else "",
         MATCHING[key.kind])
        for key in sorted(KEYS.values(), key=lambda k: (k.level, k.keyword))
    ]  # fmt: skip
    return _table(("level", "key", "", "matching"), rows)


def limits() -> str:
    """The association limits, with their settings and defaults."""
    fields = GatewaySettings.model_fields
    rows = [
        (
            label,
            f"`PHOTOPACS_{key.upper()}`",
            str(fields[key].default),
        )
        for label, key in (
            ("Maximum PDU size received (bytes)", "dicom_max_pdu"),
            ("Associations served at once", "dicom_max_associations"),
            ("Network timeout (seconds)", "dicom_network_timeout"),
        )
    ]
    return _table(("limit", "setting", "default"), rows)


SECTIONS: dict[str, Callable[[], str]] = {
    "limits": limits,
    "query-keys": query_keys,
    "storage-classes": storage_classes,
    "pixel-syntaxes": pixel_syntaxes,
    "document-syntaxes": document_syntaxes,
    "services": services,
    "roles": roles,
}


def render(text: str) -> str:
    """``text`` with every generated section made anew from the code."""

    def fill(match: re.Match[str]) -> str:
        make = SECTIONS.get(match.group("name"))
        if make is None:
            raise KeyError(f"unknown generated section {match.group('name')!r}")
        return match.group(1) + make() + match.group(4)

    return MARK.sub(fill, text)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m dicom_gateway.conformance docs/conformance.md", file=sys.stderr)
        return 2
    path = Path(argv[0])
    path.write_text(render(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
