from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

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
    format: Format = typer.Option(Format.all, "--format", help="Which fp32 artefacts to (re)write."),
    quantize: Optional[list[str]] = typer.Option(None, "--quantize", help="Recipe to apply (repeatable): "
                                                 "onnx-int8-dynamic, onnx-int8-static, onnx-fp16, tflite-dynamic-range, "
                                                 "tflite-fp16, tflite-int8, tflite-int8-io."),
    only_quantize: bool = typer.Option(False, "--only-quantize", help="Keep the fp32 artefacts; only run the recipes."),
):
    """Write ONNX / TFLite artefacts of the checkpoint in DIRECTORY, each checked as it is made; exit 1 if a recipe is refused."""
    from lstm_edge.export import FORMATS, export

    formats = [] if only_quantize else list(FORMATS) if format is Format.all else [format.value]
    written, refused = export(directory, formats, recipes=quantize or [], progress=say)
    for info in written:
        ratio = f", {info['size_bytes'] / info['parent_size_bytes']:.2f}× {info['parent']}" if "parent_size_bytes" in info else ""
        console().print(f"wrote {directory / info['artifact']} ({info['size_bytes'] / 1024:.1f} KiB{ratio}, "
                        f"sha256 {info['sha256'][:12]}…): self-check passed")
    for r in refused:
        console().print(f"[red]refused[/red] {r['reason']}")
    if refused:
        raise typer.Exit(1)
