"""The DICOM UIDs photopacs works with, in one place, named by pydicom.

SOP classes are grouped by what the archive does with them (which it
stores, which carry pixel data, which are video, which are documents rather
than recordings); transfer syntaxes by what can be done with their bytes
(kept as they are, decoded losslessly to Explicit VR Little Endian, or only
passed on).
"""

from __future__ import annotations

from pydicom import uid as u
from pydicom.uid import UID

# --- SOP classes ----------------------------------------------------------------

VIDEO_CLASSES = frozenset(
    {
        u.VideoPhotographicImageStorage,
        u.VideoEndoscopicImageStorage,
        u.VideoMicroscopicImageStorage,
    }
)
# Visible-light still images: clinical photography, dermoscopy, endoscopy,
# microscopy, ophthalmology, slides.
VL_STILL_CLASSES = frozenset(
    {
        u.VLPhotographicImageStorage,
        u.DermoscopicPhotographyImageStorage,
        u.VLEndoscopicImageStorage,
        u.VLMicroscopicImageStorage,
        u.VLSlideCoordinatesMicroscopicImageStorage,
        u.VLWholeSlideMicroscopyImageStorage,
        u.OphthalmicPhotography8BitImageStorage,
        u.OphthalmicPhotography16BitImageStorage,
        u.WideFieldOphthalmicPhotographyStereographicProjectionImageStorage,
        u.WideFieldOphthalmicPhotography3DCoordinatesImageStorage,
    }
)
SECONDARY_CAPTURE_CLASSES = frozenset(
    {
        u.SecondaryCaptureImageStorage,
        u.MultiFrameSingleBitSecondaryCaptureImageStorage,
        u.MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
        u.MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
        u.MultiFrameTrueColorSecondaryCaptureImageStorage,
    }
)
# 3D surface photography (a model of the body's surface, with its materials).
SURFACE_MODEL_CLASSES = frozenset(
    {u.EncapsulatedSTLStorage, u.EncapsulatedOBJStorage, u.EncapsulatedMTLStorage}
)
SR_CLASSES = frozenset({u.BasicTextSRStorage, u.EnhancedSRStorage, u.ComprehensiveSRStorage})
KOS = u.KeyObjectSelectionDocumentStorage
ENCAPSULATED_PDF = u.EncapsulatedPDFStorage
# Documents, not recordings: consent SRs, signed forms, key object notes, letters.
DOCUMENT_CLASSES = frozenset({*SR_CLASSES, KOS, ENCAPSULATED_PDF, u.EncapsulatedCDAStorage})

# Objects with Pixel Data: the only ones a compressed transfer syntax applies to.
PIXEL_CLASSES = VL_STILL_CLASSES | VIDEO_CLASSES | SECONDARY_CAPTURE_CLASSES
# Everything the archive accepts; any other SOP class is refused at association.
STORAGE_CLASSES = PIXEL_CLASSES | SURFACE_MODEL_CLASSES | DOCUMENT_CLASSES

# --- transfer syntaxes ------------------------------------------------------------

EXPLICIT_LE = u.ExplicitVRLittleEndian
IMPLICIT_LE = u.ImplicitVRLittleEndian
DEFLATED = u.DeflatedExplicitVRLittleEndian
# Native (uncompressed) encodings every DICOM application accepts (PS3.5 10.1).
NATIVE = (EXPLICIT_LE, IMPLICIT_LE)
VIDEO_SYNTAXES = (*u.MPEGTransferSyntaxes,)
# Encapsulated still-image syntaxes, in the order a storage SCP of ours prefers
# them when a caller offers several in one presentation context. Each can be
# decoded losslessly (the decode reproduces the stored pixels exactly):
# pylibjpeg-libjpeg for JPEG and JPEG-LS, pylibjpeg-openjpeg for JPEG 2000,
# pydicom's own RLE decoder.
STILL_SYNTAXES: tuple[UID, ...] = (
    u.JPEGBaseline8Bit,
    u.JPEGExtended12Bit,
    u.JPEGLossless,
    u.JPEGLosslessSV1,
    u.JPEGLSLossless,
    u.JPEGLSNearLossless,
    u.JPEG2000Lossless,
    u.JPEG2000,
    u.RLELossless,
)
DECODABLE = frozenset(STILL_SYNTAXES)
# What a storage SCP of ours accepts for objects with pixel data, preferred first:
# the encapsulated syntaxes, so a camera's JPEG or H.264 bitstream is kept as the
# camera made it, then native, then deflated.
PIXEL_SYNTAXES: tuple[UID, ...] = (*STILL_SYNTAXES, *VIDEO_SYNTAXES, *NATIVE, DEFLATED)
# ... and for objects without pixel data (documents, surface models).
DOCUMENT_SYNTAXES: tuple[UID, ...] = (*NATIVE, DEFLATED)


def syntaxes_for(sop_class_uid: str) -> tuple[UID, ...]:
    """The transfer syntaxes a storage context for ``sop_class_uid`` accepts, preferred first."""
    return PIXEL_SYNTAXES if sop_class_uid in PIXEL_CLASSES else DOCUMENT_SYNTAXES


def name(uid: str) -> str:
    """The standard's name of a UID, or the UID itself when pydicom does not know it."""
    known = UID(uid).name
    return known if known and known != uid else uid
