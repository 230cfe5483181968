from __future__ import annotations

from pathlib import Path

import typer

from lstm_edge.cli._common import finish, handles_errors, logs_beside, say

NAME = "verify"


@handles_errors
@logs_beside("directory", in_place=True)
def command(directory: Path = typer.Argument(..., help="Directory with a checkpoint and its artefacts.")):
    """Check every stage against its parent; writes report.json and report.md; exit 1 on any budget miss,
    3 when DIRECTORY holds no artefact to verify (a check that cannot fail is not a PASS)."""
    from lstm_edge.verify.run import verify

    finish(verify(directory, progress=say), directory)
