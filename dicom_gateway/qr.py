"""Query/Retrieve SCP: C-FIND, C-MOVE and C-GET, Patient Root and Study Root
(PS3.4 C.4.1, C.4.2, C.4.3), all through the archive's one query function
(:meth:`Archive.find`) and its retrieve twin (:meth:`Archive.locate`).

The requester is the calling AE in the ``epr`` role acting for care, so the
archive's access policy decides what is seen: only ``active`` instances are
ever found, counted, moved or got. Responses are encoded in UTF-8 (Specific
Character Set ``ISO_IR 192``); keys the archive does not match on are
returned empty and the pending status says so (0xFF01, PS3.4 C.4.1.1.4).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pynetdicom import evt
from pynetdicom.events import Event

from archive import (
    EXPLICIT_LE,
    KEYS,
    Action,
    Actor,
    Archive,
    ArchiveError,
    CannotTranscode,
    Level,
    Located,
    NotAuthorised,
    Outcome,
    Purpose,
    decoded,
    may_receive,
    node_subject,
)
from archive import Role as ArchiveRole
from dicom_gateway.associations import Peer, Peers
from dicom_gateway.sop import STUDY_ROOT, Service
from dicom_gateway.statuses import INTERNAL, REFUSED, Answer, Status, query_failure
from dicom_gateway.transfer import How, plan, proposals

log = logging.getLogger(__name__)

PENDING_WARNING = 0xFF01  # matches continue; optional keys not supported
# Keys of the identifier that are about the query itself, not matched or returned as keys.
CONTROL = frozenset({"QueryRetrieveLevel", "SpecificCharacterSet", "RetrieveAETitle"})
MAX_CONTEXTS = 128  # PS3.8 9.3.2.2: presentation context IDs are odd numbers 1-255


class RequestError(Exception):
    """An identifier the gateway cannot answer; carries the DIMSE answer."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.comment)
        self.answer = answer


@dataclass(frozen=True)
class QrRequest:
    """A parsed C-FIND / C-MOVE / C-GET identifier."""

    level: Level
    level_text: str
    identifier: dict[str, str]
    requested: list[DataElement] = field(default_factory=list)
    unsupported: bool = False


def _text(elem: DataElement) -> str:
    value: Any = elem.value
    if value is None:
        return ""
    if isinstance(value, list | tuple | MultiValue):
        return "\\".join(str(v) for v in value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def parse_identifier(ds: Dataset, *, sop_class: str) -> QrRequest:
    """The level and the keys to match (PS3.4 C.4.1.2.1); other keys are only returned."""
    level_text = str(ds.get("QueryRetrieveLevel", "")).strip().upper()
    try:
        level = Level.parse(level_text)
    except ValueError:
        raise RequestError(
            Answer(Status.DOES_NOT_MATCH, f"identifier: bad Query/Retrieve Level {level_text!r}")
        ) from None
    if level is Level.PATIENT and sop_class in STUDY_ROOT:
        raise RequestError(
            Answer(Status.DOES_NOT_MATCH, "identifier: Study Root has no PATIENT level")
        )
    identifier: dict[str, str] = {}
    requested: list[DataElement] = []
    unsupported = False
    for elem in ds:
        keyword = elem.keyword
        if elem.tag.group == 0x0000 or keyword in CONTROL:
            continue
        requested.append(elem)
        key = KEYS.get(keyword)
        if key is None or key.level > level or elem.VR == "SQ":
            unsupported = True
            continue
        try:
            identifier[keyword] = _text(elem)
        except Exception:
            raise RequestError(
                Answer(Status.DOES_NOT_MATCH, f"identifier: cannot read {keyword}")
            ) from None
    return QrRequest(level, level_text, identifier, requested, unsupported)


def _value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return value


def response(match: dict[str, Any], request: QrRequest, *, aet: str) -> Dataset:
    """One C-FIND match: every requested key (empty when not supported), the
    unique keys of the level and above, UTF-8 encoded (PS3.4 C.4.1.1.3.2)."""
    out = Dataset()
    out.SpecificCharacterSet = "ISO_IR 192"
    out.QueryRetrieveLevel = request.level_text
    for elem in request.requested:
        value = _value(match.get(elem.keyword)) if elem.keyword else None
        if elem.VR == "SQ":
            out.add_new(elem.tag, "SQ", [])
        elif value is None or value == "":
            out.add_new(elem.tag, elem.VR, None)
        else:
            out.add_new(elem.tag, elem.VR, value)
    for keyword, value in match.items():
        if keyword not in out and value not in (None, ""):
            setattr(out, keyword, _value(value))
    out.RetrieveAETitle = aet
    return out


@dataclass
class Delivery:
    """The sub-operations of one C-MOVE or C-GET: what went decoded, what could
    not go and why (our plans and the destination's C-STORE answers)."""

    service: str
    destination: str
    transcode: bool
    transcoded: list[str] = field(default_factory=list)
    not_sent: dict[str, tuple[str, str]] = field(default_factory=dict)  # uid: (reason, comment)
    store_assoc: Any = None  # C-MOVE: the association to the destination, once made

    def on_established(self, event: Event) -> None:
        self.store_assoc = event.assoc

    def on_received(self, event: Event) -> None:
        """EVT_DIMSE_RECV on the association carrying the C-STOREs."""
        msg = event.message
        if type(msg).__name__ != "C_STORE_RSP":
            return
        cs = msg.command_set
        status = int(cs.get("Status", 0))
        if status == 0x0000 or 0xB000 <= status <= 0xBFFF:
            return
        uid = str(cs.get("AffectedSOPInstanceUID", ""))
        comment = f"refused by the destination (0x{status:04X})"
        self.not_sent[uid] = (comment, comment)

    def fail(self, uid: str, reason: str, comment: str) -> None:
        self.not_sent[uid] = (reason, comment or reason)

    def final(self) -> tuple[Dataset, Dataset] | None:
        """The closing warning when anything was not sent (PS3.4 C.4.2.1.5, C.4.3.1.4)."""
        if not self.not_sent:
            return None
        comments = sorted({comment for _, comment in self.not_sent.values()})
        text = f"{len(self.not_sent)} not sent: {comments[0]}"
        if len(comments) > 1:
            text = f"{len(self.not_sent)} not sent, {len(comments)} reasons: {comments[0]}"
        status = Answer(Status.SUBOPERATIONS_FAILED, text).dataset()
        status.NumberOfRemainingSuboperations = None  # a final response has none left
        failed = Dataset()
        failed.FailedSOPInstanceUIDList = sorted(self.not_sent)
        return status, failed


class QrHandlers:
    """EVT_C_FIND, EVT_C_MOVE, EVT_C_GET and the audit of retrieve outcomes."""

    def __init__(self, archive: Archive, peers: Peers, *, aet: str) -> None:
        self.archive = archive
        self.peers = peers
        self.aet = aet

    def _requester(self, peer: Peer) -> Actor:
        if peer.review:
            # Looked up at each request: a review closed or expired mid-association ends it.
            review = self.archive.current_review(node_subject(peer.ae_title))
            if review is None:
                raise NotAuthorised("no open governance review for this node")
            return Actor(
                actor=peer.ae_title,
                role=ArchiveRole.GOVERNANCE,
                purpose=Purpose.GOVERNANCE,
                source=peer.address,
                review=True,
                review_reason=review.reason,
                review_number=review.number,
            )
        return Actor(
            actor=peer.ae_title, role=ArchiveRole.EPR, purpose=Purpose.CARE, source=peer.address
        )

    # --- C-FIND -------------------------------------------------------------
    def handle_find(self, event: Event) -> Iterator[tuple[int | Dataset, Dataset | None]]:
        """PS3.4 C.4.1.3: one pending response per match, then success."""
        try:
            yield from self._find(event)
        except Exception:
            log.exception("unexpected error answering a C-FIND")
            yield INTERNAL.dataset(), None

    def _find(self, event: Event) -> Iterator[tuple[int | Dataset, Dataset | None]]:
        peer = self.peers.authorise(event, Service.FIND)
        if peer is None:
            yield REFUSED.dataset(), None
            return
        try:
            request = parse_identifier(
                event.identifier, sop_class=str(event.request.AffectedSOPClassUID)
            )
            matches = self.archive.find(
                request.level, request.identifier, requester=self._requester(peer)
            )
        except RequestError as exc:
            yield exc.answer.dataset(), None
            return
        except ArchiveError as exc:
            yield query_failure(exc).dataset(), None
            return
        pending = PENDING_WARNING if request.unsupported else int(Status.PENDING)
        for match in matches:
            if event.is_cancelled:
                yield int(Status.CANCEL), None
                return
            yield pending, response(match, request, aet=self.aet)

    # --- C-MOVE -------------------------------------------------------------
    def handle_move(self, event: Event) -> Iterator[Any]:
        """PS3.4 C.4.2.3: destination, number of sub-operations, then one
        pending yield per instance; pynetdicom counts the sub-operations."""
        try:
            yield from self._move(event)
        except Exception:
            log.exception("unexpected error answering a C-MOVE")
            yield INTERNAL.dataset(), None

    def _move(self, event: Event) -> Iterator[Any]:
        peer = self.peers.authorise(event, Service.MOVE)
        destination = str(event.move_destination or "").strip()
        node = self.archive.node(destination) if destination else None
        review = peer is not None and peer.review
        if peer is None or node is None or not may_receive(node.role, review=review):
            if peer is not None:
                self.peers.audit(
                    actor=peer.ae_title,
                    role=str(peer.role),
                    outcome=Outcome.REFUSED,
                    source=peer.address,
                    action=Action.RETRIEVE,
                    detail={
                        "service": "move",
                        "destination": destination,
                        "reason": "move destination unknown",
                    },
                )
            yield None, None  # pynetdicom answers 0xA801 Move Destination unknown
            return
        found, failure = self._locate(event, peer, destination)
        delivery = Delivery("move", destination, transcode=node.transcode)
        pairs = {(item.sop_class_uid, item.transfer_syntax_uid) for item in found}
        yield (
            node.host,
            node.port,
            {
                "contexts": proposals(pairs, transcode=node.transcode, limit=MAX_CONTEXTS),
                "evt_handlers": [
                    (evt.EVT_ESTABLISHED, delivery.on_established),
                    (evt.EVT_DIMSE_RECV, delivery.on_received),
                ],
            },
        )
        yield from self._send(event, peer, found, failure, delivery)

    # --- C-GET --------------------------------------------------------------
    def handle_get(self, event: Event) -> Iterator[Any]:
        """PS3.4 C.4.3.3: C-STORE sub-operations on the same association."""
        try:
            yield from self._get(event)
        except Exception:
            log.exception("unexpected error answering a C-GET")
            yield INTERNAL.dataset(), None

    def _get(self, event: Event) -> Iterator[Any]:
        peer = self.peers.authorise(event, Service.GET)
        if peer is None:
            yield 1
            yield REFUSED.dataset(), None
            return
        found, failure = self._locate(event, peer, peer.ae_title)
        delivery = Delivery("get", peer.ae_title, transcode=peer.transcode)
        delivery.store_assoc = event.assoc
        event.assoc.bind(evt.EVT_DIMSE_RECV, delivery.on_received)
        try:
            yield from self._send(event, peer, found, failure, delivery)
        finally:
            event.assoc.unbind(evt.EVT_DIMSE_RECV, delivery.on_received)

    # --- shared -------------------------------------------------------------
    def _locate(
        self, event: Event, peer: Peer, destination: str
    ) -> tuple[list[Located], Answer | None]:
        try:
            request = parse_identifier(
                event.identifier, sop_class=str(event.request.AffectedSOPClassUID)
            )
            found = self.archive.locate(
                request.level,
                request.identifier,
                requester=self._requester(peer),
                destination=destination,
            )
        except RequestError as exc:
            return [], exc.answer
        except ArchiveError as exc:
            return [], query_failure(exc)
        if len(found) > 65535:  # sub-operation counts are US (PS3.4 C.4.2.3.1)
            return [], Answer(Status.UNABLE_TO_PROCESS, "unable to process: over 65535 matches")
        return found, None

    def _send(
        self,
        event: Event,
        peer: Peer,
        found: list[Located],
        failure: Answer | None,
        delivery: Delivery,
    ) -> Iterator[Any]:
        if failure is not None:
            yield 1
            yield failure.dataset(), None
            return
        if found:
            # Remembered before sending (a failed sub-operation over-counts, which
            # only means a later rejection note too many): where copies may exist.
            self.archive.record_delivery(delivery.destination, [i.sop_instance_uid for i in found])
        yield len(found)
        try:
            for item in found:
                if event.is_cancelled:
                    yield int(Status.CANCEL), None
                    return
                ds = self._prepare(item, delivery)
                if ds is not None:
                    yield int(Status.PENDING), ds
        finally:
            self._audit_delivery(peer, delivery)
        closing = delivery.final()
        if closing is not None:
            yield closing

    @staticmethod
    def _prepare(item: Located, delivery: Delivery) -> Dataset | None:
        """The data set to send for one sub-operation, or None (recorded as not sent)."""
        how = plan(
            delivery.store_assoc,
            item.sop_class_uid,
            item.transfer_syntax_uid,
            transcode=delivery.transcode,
        )
        uid = item.sop_instance_uid
        if how.how is How.FAIL:
            delivery.fail(uid, how.reason, how.comment)
            return None
        if how.how is How.DECODE:
            try:
                ds = decoded(item.path)
            except CannotTranscode as exc:
                log.warning("could not decode %s: %s", uid, exc)
                delivery.fail(uid, str(exc), "stored object could not be decoded")
                return None
            delivery.transcoded.append(uid)
            return ds
        try:
            return pydicom.dcmread(item.path, defer_size="1 MB")
        except Exception:
            log.exception("stored object %s is unreadable", uid)
            delivery.fail(uid, "stored object unreadable", "stored object unreadable")
            return None

    def _audit_delivery(self, peer: Peer, delivery: Delivery) -> None:
        """One event for the objects that went decoded or could not go (R14)."""
        if not delivery.transcoded and not delivery.not_sent:
            return
        self.peers.audit(
            actor=peer.ae_title,
            role=str(peer.role),
            outcome=Outcome.FAILURE if delivery.not_sent else Outcome.SUCCESS,
            source=peer.address,
            action=Action.RETRIEVE,
            detail={
                "service": delivery.service,
                "destination": delivery.destination,
                "transcoded": delivery.transcoded,
                "transcoded_to": EXPLICIT_LE if delivery.transcoded else "",
                "not_sent": [
                    {"sop_instance_uid": uid, "reason": reason}
                    for uid, (reason, _) in sorted(delivery.not_sent.items())
                ],
            },
        )

    def handle_sent(self, event: Event) -> None:
        """EVT_DIMSE_SENT: audit the outcome of a finished C-MOVE / C-GET (R14)."""
        msg = event.message
        name = type(msg).__name__
        if name not in ("C_MOVE_RSP", "C_GET_RSP"):
            return
        cs = msg.command_set
        status = int(cs.get("Status", 0))
        if status in (0xFF00, 0xFF01):
            return
        peer = self.peers.peer(event.assoc)
        if peer is None:
            return
        outcome = Outcome.SUCCESS if status in (0x0000, 0xB000) else Outcome.FAILURE
        self.peers.audit(
            actor=peer.ae_title,
            role=str(peer.role),
            outcome=outcome,
            source=peer.address,
            action=Action.RETRIEVE,
            detail={
                "service": "move" if name == "C_MOVE_RSP" else "get",
                "status": f"0x{status:04X}",
                "completed": int(cs.get("NumberOfCompletedSuboperations", 0) or 0),
                "failed": int(cs.get("NumberOfFailedSuboperations", 0) or 0),
                "warning": int(cs.get("NumberOfWarningSuboperations", 0) or 0),
            },
        )
