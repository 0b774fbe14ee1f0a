"""The password policy for web accounts (OWASP ASVS 2.1.7, NIST SP 800-63B 5.1.1.2).

A password must be long enough and must not be one that attackers try first:
a commonly used password (the list ships with the package, so no network is
needed: ``common-passwords.txt.gz``, see ``common-passwords.LICENSE``), such a
password with a few digits or symbols around it or letters swapped for
look-alikes (``P@ssw0rd2024``), only whitespace, one character or a short
pattern repeated, a run along the alphabet, the digits or a keyboard row
(``123456789012``, ``abcdefghijkl``, ``qwertyuiop``), or one containing the
user name. There are no composition rules (no "one digit and one capital").
"""

from __future__ import annotations

import functools
import gzip
import re
from importlib.resources import files

MAX_LENGTH = 1024

# Runs an attacker tries: alphabet, digits, keyboard rows and columns (either way).
_RUNS = (
    "abcdefghijklmnopqrstuvwxyz",
    "0123456789",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "qwertyuiopasdfghjklzxcvbnm",
    "qwertzuiopasdfghjklyxcvbnm",
    "azertyuiopqsdfghjklmwxcvbn",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
    "qazwsxedcrfvtgbyhnujmikolp",
    "1234567890-=",
    "!@#$%^&*()_+",
)
# Look-alike characters, undone before the list look-up ("1" and "!" either way).
_LEET = [
    str.maketrans({"@": "a", "4": "a", "0": "o", "3": "e", "$": "s", "5": "s", "7": "t",
                   "+": "t", "1": "i", "!": "i"}),
    str.maketrans({"@": "a", "4": "a", "0": "o", "3": "e", "$": "s", "5": "s", "7": "t",
                   "+": "t", "1": "l", "!": "l"}),
]  # fmt: skip
_DECORATION = re.compile(r"^[\W\d_]+|[\W\d_]+$")


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of commonly used passwords (lower case)."""
    data = files("archive").joinpath("common-passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(data).decode("utf-8").split())


def _is_run(text: str) -> bool:
    for run in _RUNS:
        for way in (run, run[::-1]):
            if text in way * (len(text) // len(way) + 2):
                return True
    return False


def _repeats_a_short_unit(text: str) -> bool:
    """``text`` is one unit written out at least three times (``abcabcabc``...)."""
    n = len(text)
    return any((text[:k] * (n // k + 1))[:n] == text for k in range(1, n // 3 + 1))


def _is_common(lower: str) -> bool:
    common = common_passwords()
    if lower in common:
        return True
    core = _DECORATION.sub("", lower)  # without the digits and symbols around it
    if len(core) < 4:
        return False
    return core in common or any(core.translate(t) in common for t in _LEET)


def password_problem(password: str, *, username: str, min_length: int) -> str | None:
    """Why ``password`` may not be used for the account ``username``, or None."""
    if len(password) < min_length:
        return f"password must be at least {min_length} characters"
    if len(password) > MAX_LENGTH:
        return f"password is too long (at most {MAX_LENGTH} characters)"
    if not password.strip():
        return "password must not be only spaces"
    lower = password.lower()
    if len(set(lower)) == 1:
        return "password must not be one character repeated"
    if _repeats_a_short_unit(lower):
        return "password must not be a short pattern repeated (like abcabcabcabc)"
    if _is_run(lower):
        return "password must not be a sequence (like 123456789012, abcdefghijkl or qwertyuiop)"
    name = username.strip().lower()
    if len(name) >= 3 and name in lower:
        return "password must not contain the user name"
    if _is_common(lower):
        return (
            "password is on a list of commonly used passwords (or is one with digits or "
            "symbols added): choose another, e.g. a few unrelated words"
        )
    return None
