"""Errors raised by consent_sr: strict on write, tolerant (but not credulous) on read."""

from __future__ import annotations

__all__ = [
    "ConsentParseError",
    "ConsentSRError",
    "ConsentValidationError",
    "NotAConsentSR",
]


class ConsentSRError(ValueError):
    """Base class of every error consent_sr raises on purpose."""


class ConsentValidationError(ConsentSRError):
    """A builder argument (or a field of the model passed to it) is invalid.

    ``argument`` names the offending argument, e.g. ``"consenter_name"`` or
    ``"covered[2]"`` (an index into the model's canonical order, and the message
    names the instance); the message starts with it.
    """

    def __init__(self, argument: str, message: str) -> None:
        self.argument = argument
        self.reason = message
        super().__init__(f"{argument}: {message}")


class NotAConsentSR(ConsentSRError):
    """The dataset is not a consent SR document (see ``is_consent_sr``)."""


class ConsentParseError(ConsentSRError):
    """A consent SR document lacks something no tolerant reading can supply.

    Raised only when the consent status itself cannot be determined; anything
    else that is missing or unexpected is reported in ``ConsentDocument.problems``.
    """
