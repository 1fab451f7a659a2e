"""The single error path of the CLI: one clear line on stderr, a documented exit code."""

from __future__ import annotations

import sys

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A usage or input problem: printed as one line, exit code 2."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def warn(message: str) -> None:
    sys.stderr.write(f"traindx: warning: {message}\n")


def fail(message: str) -> None:
    sys.stderr.write(f"traindx: error: {message}\n")
