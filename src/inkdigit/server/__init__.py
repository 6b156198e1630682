"""Web app and HTTP API: a drawing page at ``/`` and JSON endpoints under ``/api``."""

from inkdigit.server.app import create_app, serve

__all__ = ["create_app", "serve"]
