"""The rule that a level-3 purpose is specified, never open-ended (rule R3).

GMC guidance allows consent to "a specified additional purpose", for example
publication of a named article in a named journal, and never an open-ended one.
Software cannot judge specificity fully, so it refuses what is certainly not
specific. A purpose is refused when:

1. it is empty, or has fewer than two words;
2. every word is generic vocabulary ("publication in a medical journal",
   "teaching and research", "conference presentation"): it names nothing;
3. it contains open-ended wording: "any", "anything", "whatever", "as required",
   "as needed", "where appropriate", "etc", "and other(s)", "or similar",
   "such as", "not limited to", "all purposes/uses/media/...", "unlimited",
   "unrestricted", "unspecified", "future use(s)/purposes/...", "to be confirmed",
   "TBC"/"TBD", "n/a", "none", "unknown";
4. it points at its venue with an indefinite determiner ("in a journal",
   "at some conferences", "a dermatology textbook"): a specified venue is named.

TEMPLATE.md repeats this rule for other systems that write the template.
"""

from __future__ import annotations

import re

from consent_sr.errors import ConsentValidationError

__all__ = ["check_specified_purpose", "is_specific_purpose", "purpose_problem"]

_GENERIC_WORDS = """
    a an the of in on at for to and or with by from into about as is be this that these
    those its their his her my our your per via within
    publication publications publish published publishing print printed electronic online
    internet web website websites social media journal journals article articles paper
    papers magazine magazines newsletter book books textbook textbooks chapter chapters
    atlas teaching teach education educational training lecture lectures lecturing
    presentation presentations present presenting conference conferences meeting meetings
    talk talks poster posters seminar seminars course courses workshop workshops
    research study studies audit audits purpose purposes use uses using used medical
    clinical scientific academic professional healthcare health care material materials
    image images photo photos photograph photographs photography picture pictures video
    videos recording recordings record records case cases report reports series other
    others general various external internal public national international local
    hospital marketing advertising promotional leaflet leaflets brochure brochures
    patient patients consent staff students student doctors nurses colleagues
    additional further specified specific purpose
"""
_GENERIC = frozenset(_GENERIC_WORDS.split())

_OPEN_ENDED = [
    (re.compile(pattern), reason)
    for pattern, reason in (
        (
            r"\b(?:any|anything|anywhere|anyone|whatever|whenever|wherever|everything)\b",
            "open-ended wording",
        ),
        (
            r"\b(?:as|if|when|where)\s+(?:and\s+when\s+)?"
            r"(?:required|needed|necessary|appropriate|applicable|deemed|seen\s+fit|desired)\b",
            "open-ended qualifier",
        ),
        (r"\b(?:etc|et\s+cetera|and\s+so\s+on|and\s+the\s+like)\b", "open-ended list"),
        (r"\b(?:and|or)\s+(?:other|others|similar|elsewhere)\b", "open-ended list"),
        (r"\bsuch\s+as\b", "examples instead of a specified purpose"),
        (
            r"\bnot\s+limited\s+to\b|\bwithout\s+(?:limit|limitation|restriction)s?\b",
            "open-ended scope",
        ),
        (
            r"\ball\s+(?:purposes|uses|media|publications|journals|formats|outlets|forms|"
            r"types|kinds|future|teaching|education|research)\b",
            "open-ended scope",
        ),
        (
            r"\b(?:unlimited|unrestricted|unspecified|indefinite|indefinitely|open[\s-]ended)\b",
            "open-ended scope",
        ),
        (
            r"\bfuture\s+(?:use|uses|purposes?|publications?|projects?|research|teaching|"
            r"work|articles?|presentations?)\b",
            "unspecified future use",
        ),
        (r"(?:^|\s)n/?a(?:$|\s)|\bnot\s+applicable\b|\b(?:none|nil|unknown)\b", "no purpose given"),
        (
            r"\b(?:tbc|tbd|tba)\b|\bto\s+be\s+(?:confirmed|decided|determined|agreed|announced)\b",
            "purpose not yet specified",
        ),
        (
            r"\b(?:a|an|some|various|several|many|other)\s+(?:[\w-]+\s+){0,3}?"
            r"(?:journals?|conferences?|meetings?|textbooks?|books?|websites?|magazines?|"
            r"publications?|courses?|lectures?|presentations?|articles?|media)\b",
            "venue not named (indefinite determiner)",
        ),
    )
]

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")


def purpose_problem(text: str | None) -> str | None:
    """Why ``text`` is not a specified purpose, or None when it is acceptable."""
    if text is None or not text.strip():
        return "a specified purpose is required for level 3 and must not be empty"
    normalised = " ".join(text.lower().split())
    words = _WORD.findall(normalised)
    if len(words) < 2:
        return f"{text!r} is too short to specify a purpose (say what use, and where)"
    for pattern, reason in _OPEN_ENDED:
        match = pattern.search(normalised)
        if match:
            return f"{text!r} is open-ended ({reason}: {match.group(0)!r})"
    if all(word in _GENERIC or len(word) < 2 for word in words):
        return f"{text!r} names no specific journal, event, course or work"
    return None


def is_specific_purpose(text: str | None) -> bool:
    """Whether ``text`` passes the specified-purpose rule (module docstring)."""
    return purpose_problem(text) is None


def check_specified_purpose(text: str | None, argument: str = "purpose") -> str:
    """Return ``text`` unchanged if specific, else raise ConsentValidationError."""
    problem = purpose_problem(text)
    if problem is not None:
        raise ConsentValidationError(argument, problem)
    assert text is not None
    return text
