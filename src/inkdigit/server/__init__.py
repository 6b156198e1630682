"""Web app and HTTP API: a drawing page at ``/`` and JSON endpoints under ``/api``.

`app.create_app` builds the FastAPI app; `start.serve` runs it (what `inkdigit serve` calls).
"""
