"""What every command shares: the argparse parser class, the --help formatter, shared options."""

from __future__ import annotations

import argparse


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (plus where to get help), exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show defaults in --help, except None/False (their help text already says what happens)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False or isinstance(action.default, list):
            return action.help or ""
        return super()._get_help_string(action)


def add_data_dir(p: argparse.ArgumentParser) -> None:
    """The --data-dir option of every command that reads a dataset."""
    p.add_argument("--data-dir", default=None,
                   help="dataset cache folder (default: $INKDIGIT_DATA, else ~/.cache/inkdigit)")
