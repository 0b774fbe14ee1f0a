"""Consent in the archive (rules R2-R11, docs/architecture.md), in three layers:

- :mod:`archive.consent.rules`: the decision table, pure. Facts about an
  instance and the consent documents covering it go in; its availability, the
  reason and the purposes it may be used for come out.
- :mod:`archive.consent.evaluation`: consent documents in the index, their
  chains, and the decisions the rules make of them, stored on each instance
  (``register``, ``decide_arrival``, ``settle``, ``reevaluate``,
  ``derivatives``).
- :mod:`archive.consent.recording`: recording a consent decision (building the
  consent SR and ingesting it) and a patient's consent overview.

The rest of the archive uses the names below; tests may reach into the modules.
"""

from archive.consent.evaluation import (
    decide_arrival,
    decisions,
    derivatives,
    reevaluate,
    register,
    settle,
)
from archive.consent.recording import (
    ConsentRequest,
    Overview,
    Recorded,
    encode,
    overview,
    prepare,
)
from archive.consent.rules import (
    ADULT_AGE,
    ALLOWED_FROM,
    INTIMATE_BODY_PARTS,
    INTIMATE_CODES,
    Decision,
    age_on,
)

__all__ = [
    "ADULT_AGE",
    "ALLOWED_FROM",
    "INTIMATE_BODY_PARTS",
    "INTIMATE_CODES",
    "ConsentRequest",
    "Decision",
    "Overview",
    "Recorded",
    "age_on",
    "decide_arrival",
    "decisions",
    "derivatives",
    "encode",
    "overview",
    "prepare",
    "reevaluate",
    "register",
    "settle",
]
