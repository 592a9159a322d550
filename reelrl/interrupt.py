"""Ctrl-C in a command: one line on stderr saying where things stand, exit status 130 (128 + SIGINT, as a
shell reports it), no traceback. Exit status 1 stays "finished, with failures"."""

from __future__ import annotations

import sys

EXIT_INTERRUPTED = 130


def interrupted(where: str) -> int:
    """Print ``interrupted: <where>`` and return the exit status for ``main``."""
    print(f"interrupted: {where}", file=sys.stderr, flush=True)
    return EXIT_INTERRUPTED
