"""Which transfer syntax an object travels in, as acceptor and as sender.

As **acceptor** of a C-GET, the requester proposes storage contexts in which
it takes the SCP role; pynetdicom accepts the first syntax of our list that
it offered. :func:`retrieval_syntaxes` orders that list by what the archive
holds for the SOP class: the one stored syntax first when every stored
object of the class is in it (byte-identical), the native syntaxes first
when the stored objects are in several syntaxes that can all be decoded (so
every one of them can be delivered), the usual preference otherwise.

As **sender** (C-MOVE sub-operations, forwarding, ``photopacs send``),
:func:`proposals` offers for each kind of object its stored syntax on its
own, plus a native context for decoding, plus Verification so that an
association is made even when the peer takes none of the storage contexts
and each object's failure can be reported with its reason. :func:`plan`
then decides per object: send as stored, decode (when the node allows
transcoding), or fail with a reason that names the missing context.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pynetdicom.presentation import PresentationContext, build_context

from archive import (
    DEFLATED,
    NATIVE,
    PIXEL_CLASSES,
    VIDEO_SYNTAXES,
    can_decode,
    syntaxes_for,
    uid_name,
    why_not,
)
from dicom_gateway.sop import VERIFICATION


def retrieval_syntaxes(sop_class_uid: str, stored: set[str]) -> list[str]:
    """Our preference for a C-GET storage context, given the syntaxes stored for the class."""
    order: list[str] = [str(ts) for ts in syntaxes_for(sop_class_uid)]
    if len(stored) == 1:
        [only] = stored
        if only in order:
            return [only, *(ts for ts in order if ts != only)]
    elif stored and all(can_decode(ts) for ts in stored):
        return [*map(str, NATIVE), *(ts for ts in order if ts not in NATIVE)]
    return order


def retrieval_context(cx: PresentationContext, stored: set[str]) -> PresentationContext:
    """A copy of a supported context with :func:`retrieval_syntaxes` as its syntaxes."""
    copy = PresentationContext()
    copy.abstract_syntax = cx.abstract_syntax
    copy.transfer_syntax = list(retrieval_syntaxes(str(cx.abstract_syntax), stored))
    copy.scu_role = cx.scu_role
    copy.scp_role = cx.scp_role
    return copy


def proposals(
    pairs: Iterable[tuple[str, str]], *, transcode: bool, limit: int = 128
) -> list[PresentationContext]:
    """Contexts to request for objects of these (SOP class, stored syntax) pairs."""
    exact: set[tuple[str, str]] = set()
    native: set[str] = set()
    for sop_class, ts in pairs:
        if ts in NATIVE:
            native.add(sop_class)
            continue
        exact.add((sop_class, ts))
        if transcode and can_decode(ts) and (sop_class in PIXEL_CLASSES or ts == DEFLATED):
            native.add(sop_class)
    contexts = [build_context(VERIFICATION, list(NATIVE))]
    contexts += [build_context(sop_class, [ts]) for sop_class, ts in sorted(exact)]
    contexts += [build_context(sop_class, list(NATIVE)) for sop_class in sorted(native)]
    return contexts[:limit]


class How(enum.Enum):
    AS_STORED = "as stored"  # the stored file's bytes (or a native re-encoding of them)
    DECODE = "decode"  # decoded to Explicit VR Little Endian
    FAIL = "fail"


@dataclass(frozen=True)
class Plan:
    how: How
    reason: str = ""  # for the audit trail and the command line
    comment: str = ""  # for an Error Comment (at most 64 characters)


def accepted_syntaxes(assoc: Any, sop_class: str) -> set[str]:
    """Syntaxes accepted for ``sop_class`` in contexts where we may send (SCU role)."""
    return {
        str(cx.transfer_syntax[0])
        for cx in assoc.accepted_contexts
        if str(cx.abstract_syntax) == sop_class and cx.as_scu
    }


def plan(assoc: Any, sop_class: str, transfer_syntax: str, *, transcode: bool) -> Plan:
    """How to send one object of ``sop_class`` stored in ``transfer_syntax`` over ``assoc``."""
    accepted = accepted_syntaxes(assoc, sop_class)
    if transfer_syntax in accepted:
        return Plan(How.AS_STORED)
    if transfer_syntax in NATIVE and accepted & set(NATIVE):
        return Plan(How.AS_STORED)  # explicit <-> implicit VR: pynetdicom re-encodes
    missing = (
        f"the destination accepted no presentation context for {uid_name(sop_class)} "
        f"in {uid_name(transfer_syntax)}"
    )
    if not transcode:
        return Plan(
            How.FAIL,
            f"{missing}, and transcoding is off for this node",
            "stored syntax not accepted; transcoding is off",
        )
    reason = why_not(transfer_syntax)
    if reason:
        short = (
            "video cannot be decoded for this destination"
            if transfer_syntax in VIDEO_SYNTAXES
            else "stored syntax not accepted and not decodable"
        )
        return Plan(How.FAIL, f"{missing}, and the object is {reason}", short)
    if not accepted & set(NATIVE):
        return Plan(
            How.FAIL,
            f"{missing}, nor in an uncompressed transfer syntax",
            "no accepted presentation context for the SOP class",
        )
    return Plan(How.DECODE)
