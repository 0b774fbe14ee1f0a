"""The one router of the DICOMweb services (``/dicomweb``)."""

from fastapi import APIRouter

api = APIRouter(prefix="/dicomweb", tags=["dicomweb"])
