"""Output files the commands are asked to write (--json, --junit-xml, --out …), checked before any work:
usage error (exit 2) if the path is wrong, environment fault (exit 5) if it cannot be written. One rule for
the device harness and the host CLI."""
from __future__ import annotations

import os
from pathlib import Path

from lstm_edge.errors import EnvironmentFault, UsageError


def check_output_file(path: Path | None, option: str) -> None:
    if path is None or str(path) == "-":
        return
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{option} {path}: a directory; give a file name", hint=f"e.g. {option} {path / 'out'}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{option} {path}: the directory {parent} does not exist", hint="create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise EnvironmentFault(f"{option} {path}: cannot write in {parent}", hint=f"choose a writable {option}")
