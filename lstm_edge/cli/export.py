from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from lstm_edge.cli._common import console, handles_errors, say

NAME = "export"


class Format(str, Enum):
    onnx = "onnx"
    tflite = "tflite"
    all = "all"


@handles_errors
def command(
    directory: Path = typer.Argument(..., help="Directory holding a checkpoint (from train or pipeline)."),
    format: Format = typer.Option(Format.all, "--format", help="Which artefacts to write."),
):
    """Write ONNX / TFLite artefacts of the checkpoint in DIRECTORY, each checked as it is made."""
    from lstm_edge.export import FORMATS, export

    formats = list(FORMATS) if format is Format.all else [format.value]
    for info in export(directory, formats, progress=say):
        console().print(f"wrote {directory / info['artifact']} ({info['size_bytes'] / 1024:.1f} KiB, "
                        f"sha256 {info['sha256'][:12]}…): self-check passed")
