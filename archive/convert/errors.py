"""Errors raised by the converter.

Every failure to turn an input into a DICOM object is a :class:`ConversionError`
whose message names the input and the reason, so the CLI, the DICOM gateway and
the web upload can show it to a person as it is.
"""

from __future__ import annotations

__all__ = ["ConversionError", "ImageTooLarge", "UnsupportedInput"]


class ConversionError(ValueError):
    """An input could not be converted; nothing was produced.

    ``source`` names the input (a path or an upload's file name) when known;
    ``reason`` says why, in words a user can act on.
    """

    def __init__(self, reason: str, *, source: str | None = None) -> None:
        self.reason = reason
        self.source = source
        super().__init__(f"{source}: {reason}" if source else reason)

    def for_source(self, source: str) -> ConversionError:
        """The same error, naming ``source`` (keeps an already-named source)."""
        if self.source:
            return self
        err = type(self)(self.reason, source=source)
        err.__cause__ = self.__cause__
        return err


class UnsupportedInput(ConversionError):
    """The input is well formed but no DICOM object can hold it as it is
    (a codec, profile, pixel format or size outside what the standard allows)."""


class ImageTooLarge(ConversionError):
    """The picture's declared size (from its header) is over the pixel limit; it
    was not decoded (a decompression bomb decodes to gigabytes from kilobytes)."""
