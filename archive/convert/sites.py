"""Body sites by name: SNOMED CT codes for the Anatomic Region Sequence.

The table holds the sites a clinical-photography service photographs most,
taken from PS3.16 CID 4031 (Common Anatomic Regions) and, for skin-surface
regions CID 4031 lacks (face, scalp, back, ...), the SNOMED CT concepts PS3.16
uses elsewhere. A name may carry a side ("left forearm", "right ear",
"both knees"); a paired site needs one, an unpaired site must not have one,
so the laterality a clinician relies on is never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from .errors import ConversionError

__all__ = ["KNOWN_SITES", "BodySite", "Laterality", "resolve_body_site"]

Laterality = str  # "L", "R", "B" or "U" (PS3.3 C.7.6.2 Image Laterality)


@dataclass(frozen=True)
class _Site:
    code: str
    meaning: str
    paired: bool


@dataclass(frozen=True)
class BodySite:
    """A resolved body site: SNOMED CT code, meaning and Image Laterality."""

    code: str
    meaning: str
    laterality: Laterality
    scheme: str = "SCT"


# name -> (SNOMED CT code, code meaning as in PS3.16, paired structure?)
_TABLE: Final[dict[str, _Site]] = {
    "abdomen": _Site("818981001", "Abdomen", False),
    "ankle": _Site("70258002", "Ankle joint", True),
    "axilla": _Site("91470000", "Axilla", True),
    "back": _Site("77568009", "Back", False),
    "breast": _Site("76752008", "Breast", True),
    "buttock": _Site("46862004", "Buttock", True),
    "cheek": _Site("60819002", "Cheek", True),
    "chest": _Site("816094009", "Chest", False),
    "chest wall": _Site("78904004", "Chest wall", False),
    "ear": _Site("117590005", "Ear", True),
    "elbow": _Site("16953009", "Elbow joint", True),
    "entire body": _Site("38266002", "Entire body", False),
    "eye": _Site("81745001", "Eye", True),
    "eye region": _Site("371398005", "Eye region", True),
    "eyelid": _Site("80243003", "Eyelid", True),
    "face": _Site("89545001", "Face", False),
    "finger": _Site("7569003", "Finger", True),
    "foot": _Site("56459004", "Foot", True),
    "forearm": _Site("14975008", "Forearm", True),
    "hand": _Site("85562004", "Hand", True),
    "head": _Site("69536005", "Head", False),
    "head and neck": _Site("774007", "Head and Neck", False),
    "hip": _Site("29836001", "Hip", True),
    "jaw region": _Site("661005", "Jaw region", False),
    "knee": _Site("72696002", "Knee", True),
    "lip": _Site("48477009", "Lip", False),
    "lower leg": _Site("30021000", "Lower leg", True),
    "lower limb": _Site("61685007", "Lower limb", True),
    "mouth": _Site("123851003", "Mouth", False),
    "neck": _Site("45048000", "Neck", False),
    "nose": _Site("45206002", "Nose", False),
    "pelvis": _Site("816092008", "Pelvis", False),
    "penis": _Site("18911002", "Penis", False),
    "perineum": _Site("38864007", "Perineum", False),
    "sacrum": _Site("54735007", "Sacrum", False),
    "scalp": _Site("41695006", "Scalp", False),
    "scrotum": _Site("20233005", "Scrotum", False),
    "shoulder": _Site("16982005", "Shoulder", True),
    "thigh": _Site("68367000", "Thigh", True),
    "thumb": _Site("76505004", "Thumb", True),
    "toe": _Site("29707007", "Toe", True),
    "trunk": _Site("22943007", "Trunk", False),
    "upper arm": _Site("40983000", "Upper arm", True),
    "upper limb": _Site("53120007", "Upper limb", True),
    "vulva": _Site("45292006", "Vulva", False),
    "wrist": _Site("74670003", "Wrist joint", True),
}

_ALIASES: Final[dict[str, str]] = {
    "arm": "upper limb",
    "leg": "lower limb",
    "ankle joint": "ankle",
    "elbow joint": "elbow",
    "wrist joint": "wrist",
    "whole body": "entire body",
    "thorax": "chest",
    "armpit": "axilla",
    "shin": "lower leg",
    "feet": "foot",
    "hands": "hand",
    "ears": "ear",
    "eyes": "eye",
    "knees": "knee",
    "hips": "hip",
    "breasts": "breast",
    "buttocks": "buttock",
    "cheeks": "cheek",
    "eyelids": "eyelid",
    "fingers": "finger",
    "forearms": "forearm",
    "shoulders": "shoulder",
    "thighs": "thigh",
    "thumbs": "thumb",
    "toes": "toe",
    "ankles": "ankle",
    "elbows": "elbow",
    "wrists": "wrist",
    "upper arms": "upper arm",
    "lower legs": "lower leg",
    "arms": "upper limb",
    "legs": "lower limb",
}

KNOWN_SITES: Final[tuple[str, ...]] = tuple(sorted(_TABLE))

_SIDES: Final[dict[str, Laterality]] = {
    "left": "L",
    "l": "L",
    "right": "R",
    "r": "R",
    "both": "B",
    "bilateral": "B",
}

# PS3.16 CID 244 Laterality, for the Anatomic Region Modifier Sequence.
LATERALITY_MODIFIERS: Final[dict[Laterality, tuple[str, str]]] = {
    "L": ("7771000", "Left"),
    "R": ("24028007", "Right"),
    "B": ("51440002", "Right and left"),
}


def _lookup(name: str) -> _Site | None:
    name = _ALIASES.get(name, name)
    site = _TABLE.get(name)
    if site is None:
        for candidate in _TABLE.values():
            if name in (candidate.code, f"sct:{candidate.code}"):
                return candidate
    return site


def resolve_body_site(text: str) -> BodySite:
    """Resolve a body site name such as ``"left forearm"`` (PS3.16 CID 4031).

    Also accepts a bare SNOMED CT code (``"14975008"`` or ``"SCT:14975008"``)
    with an optional side. Raises :class:`ConversionError` for an unknown
    site, a paired site without a side, or a side on an unpaired site.
    """
    words = re.sub(r"[\s,_-]+", " ", text.strip().lower()).strip()
    side: Laterality | None = None
    head, _, rest = words.partition(" ")
    if head in _SIDES and rest:
        side, words = _SIDES[head], rest
    else:
        stem, _, tail = words.rpartition(" ")
        if tail in _SIDES and stem:
            side, words = _SIDES[tail], stem
    site = _lookup(words)
    if site is None:
        raise ConversionError(
            f"unknown body site {text!r}; known sites: {', '.join(KNOWN_SITES)} "
            "(optionally preceded by left, right or both), or a SNOMED CT code"
        )
    if site.paired and side is None:
        raise ConversionError(
            f"body site {text!r} is a paired structure: say left, right or both "
            f"(e.g. 'left {site.meaning.lower()}')"
        )
    if not site.paired and side is not None:
        raise ConversionError(
            f"body site {text!r}: {site.meaning} is not a paired structure, so it takes "
            "no side; describe the location in the series or study description instead"
        )
    return BodySite(code=site.code, meaning=site.meaning, laterality=side or "U")
