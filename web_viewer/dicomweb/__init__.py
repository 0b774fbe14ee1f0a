"""DICOMweb under ``/dicomweb``: QIDO-RS search and WADO-RS retrieve (PS3.18),
for OHIF, dicomweb-client and EPRs, through the same access policy and audit as
every other read. Authentication as for ``/api``: the session cookie or
``Authorization: Bearer <token>`` from ``POST /api/session``, with a purpose
chosen. See ``docs/dicomweb.md``."""

from web_viewer.dicomweb import qido, rendered, wado  # noqa: F401  (they register routes)
from web_viewer.dicomweb.router import api

__all__ = ["api"]
