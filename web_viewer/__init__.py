"""The human edge of photopacs: FastAPI app, login, roles, gallery, audit view."""

from web_viewer.app import create_app

__all__ = ["create_app"]
