"""`python -m inkdigit.gui [--model NAME|PATH]`, the same as `inkdigit gui`."""

from __future__ import annotations

import argparse

from inkdigit.gui.app import run_gui


def main(argv: list[str] | None = None) -> int:
    """`python -m inkdigit.gui [--model NAME|PATH]`, the same as `inkdigit gui`."""
    parser = argparse.ArgumentParser(prog="python -m inkdigit.gui", description="inkdigit desktop app")
    parser.add_argument("--model", default=None, help="bundled model name or path to an .onnx file")
    return run_gui(parser.parse_args(argv).model)


if __name__ == "__main__":
    raise SystemExit(main())
