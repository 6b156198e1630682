"""`inkdigit serve`: the web app and HTTP API."""

from __future__ import annotations

import argparse

HELP = "web app + HTTP API"
HEAVY = "inkdigit.server.start"


def add_arguments(s: argparse.ArgumentParser) -> None:
    s.add_argument("--host", default="127.0.0.1", help="address to listen on")
    s.add_argument("--port", type=int, default=8000, help="port")
    s.add_argument("--model", default=None, help="bundled model name or .onnx path")
    s.add_argument("--workers", type=int, default=None,
                   help="server processes, each with its own models (default: one per core, at most 8; "
                        "0 or 1: this process alone)")
    s.add_argument("--cors-origin", action="append", help="allow this origin (repeatable); CORS is off without")
    s.add_argument("--allowed-hosts", action="append", metavar="HOSTS",
                   help="answer only requests whose Host header names one of these (comma-separated, "
                        "repeatable; '*': any, '*.example.com': its subdomains; default: localhost, 127.0.0.1 "
                        "and [::1] when --host is a loopback address, any otherwise); others get a 400")


def run(args: argparse.Namespace) -> int:
    from inkdigit.server.start import serve

    hosts = None if args.allowed_hosts is None else [h for v in args.allowed_hosts for h in v.split(",")]
    serve(args.host, args.port, args.model, args.workers, args.cors_origin or [], hosts)
    return 0
