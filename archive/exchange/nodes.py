"""Known DICOM nodes: who may associate, in which role, from where.

An AE title the archive does not know is refused at association; a known
one may use only the services its role allows (docs/architecture.md, section 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from archive import audit
from archive.audit import Action, AuditEntry, Outcome
from archive.errors import AlreadyExists, InvalidArgument, NotFound
from archive.models import Node, NodeRole


@dataclass(frozen=True)
class NodeInfo:
    ae_title: str
    host: str
    port: int
    role: NodeRole
    check_address: bool
    description: str
    transcode: bool = True


def node_info(node: Node) -> NodeInfo:
    return NodeInfo(
        ae_title=node.ae_title,
        host=node.host,
        port=node.port,
        role=node.role,
        check_address=node.check_address,
        description=node.description,
        transcode=node.transcode,
    )


def valid_ae_title(ae_title: str) -> str:
    """PS3.5 6.2 AE: 1-16 characters of the default repertoire, no backslash or
    control characters, leading and trailing spaces not significant."""
    title = ae_title.strip()
    if not title or len(title) > 16:
        raise InvalidArgument(f"AE title {ae_title!r} must be 1 to 16 characters")
    if any(c == "\\" or not (0x20 <= ord(c) < 0x7F) for c in title):
        raise InvalidArgument(f"AE title {ae_title!r} may not contain backslash or control codes")
    return title


def add(
    factory: sessionmaker[Session],
    ae_title: str,
    *,
    host: str,
    port: int,
    role: NodeRole | str,
    check_address: bool = True,
    transcode: bool = True,
    description: str = "",
    actor: str,
) -> NodeInfo:
    title = valid_ae_title(ae_title)
    if not host.strip():
        raise InvalidArgument("host must not be empty")
    if not 0 < port < 65536:
        raise InvalidArgument(f"port {port} is not between 1 and 65535")
    try:
        node_role = NodeRole(role)
    except ValueError:
        choices = ", ".join(r.value for r in NodeRole)
        raise InvalidArgument(f"role {role!r} is not one of {choices}") from None
    node = Node(
        ae_title=title,
        host=host.strip(),
        port=port,
        role=node_role,
        check_address=check_address,
        transcode=transcode,
        description=description,
        created_at=datetime.now(UTC),
    )
    try:
        with factory() as session, session.begin():
            session.add(node)
            session.flush()
            _audit(
                session,
                actor,
                "node-add",
                title,
                {
                    "role": str(node_role),
                    "host": host,
                    "check_address": str(check_address).lower(),
                    "transcode": str(transcode).lower(),
                },
            )
    except IntegrityError:
        raise AlreadyExists(f"AE title {title} is already registered") from None
    return node_info(node)


def remove(factory: sessionmaker[Session], ae_title: str, *, actor: str) -> None:
    title = ae_title.strip()
    with factory() as session, session.begin():
        node = session.scalar(select(Node).where(Node.ae_title == title))
        if node is None:
            raise NotFound(f"no node with AE title {title}")
        session.delete(node)
        _audit(session, actor, "node-remove", title, {})


def get(factory: sessionmaker[Session], ae_title: str) -> NodeInfo | None:
    with factory() as session:
        node = session.scalar(select(Node).where(Node.ae_title == ae_title.strip()))
        return node_info(node) if node else None


def all_nodes(factory: sessionmaker[Session]) -> list[NodeInfo]:
    with factory() as session:
        return [node_info(n) for n in session.scalars(select(Node).order_by(Node.ae_title))]


def _audit(session: Session, actor: str, what: str, title: str, detail: dict[str, str]) -> None:
    audit.record(
        session,
        AuditEntry(
            actor=actor,
            action=Action.ADMIN,
            outcome=Outcome.SUCCESS,
            detail={"operation": what, "ae_title": title, **detail},
        ),
    )
