from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from lstm_edge.cli._common import console, handles_errors, logs_beside, say

NAME = "export"


class Format(str, Enum):
    onnx = "onnx"
    tflite = "tflite"
    all = "all"


@handles_errors
@logs_beside("directory", in_place=lambda kw: not (kw["module"] or kw["weights"] or kw["example_shape"]))
def command(
    directory: Path = typer.Argument(..., help="Directory holding a checkpoint (from train or pipeline)."),
    format: Format = typer.Option(Format.all, "--format", help="Which fp32 artefacts to (re)write."),
    quantize: Optional[list[str]] = typer.Option(None, "--quantize", help="Recipe to apply (repeatable): "
                                                 "onnx-int8-dynamic, onnx-int8-static, onnx-fp16, tflite-dynamic-range, "
                                                 "tflite-fp16, tflite-int8, tflite-int8-io."),
    only_quantize: bool = typer.Option(False, "--only-quantize", help="Keep the fp32 artefacts; only run the recipes."),
    module: Optional[str] = typer.Option(None, "--module", help="Your own model, path/to/file.py:ClassName; "
                                         "DIRECTORY is then the output directory."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="With --module: its weights (safetensors only)."),
    example_shape: Optional[str] = typer.Option(None, "--example-shape", help="With --module: x's shape, e.g. 2,50,4 "
                                                "((B, T) of token ids for an Embedding input)."),
    init_args: Optional[str] = typer.Option(None, "--init-args", help="With --module: constructor kwargs as JSON."),
):
    """Write ONNX / TFLite artefacts of the checkpoint in DIRECTORY (or of your --module), each checked as it is made."""
    from lstm_edge.exporting.artifacts import FORMATS, export

    if module or weights or example_shape:
        return _byo(directory, format, module, weights, example_shape, init_args)

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


def _byo(out: Path, format: Format, module, weights, example_shape, init_args) -> None:
    from lstm_edge.errors import UsageError

    if not (module and weights and example_shape):
        raise UsageError("--module, --weights and --example-shape go together",
                         hint="lstm-edge export OUT --module net.py:Net --weights net.safetensors --example-shape 2,50,4")
    try:
        shape = tuple(int(v) for v in example_shape.split(","))
    except ValueError:
        raise UsageError(f"--example-shape {example_shape!r}: expected integers like 2,50,4")
    if len(shape) < 2 or min(shape) < 1:
        raise UsageError(f"--example-shape {example_shape!r}: at least (B, T), every size ≥ 1")
    import numpy as np

    from lstm_edge.byo.export import export_module
    from lstm_edge.byo.load import load_module, load_weights

    model = load_module(module, init_args)
    load_weights(model, weights)
    embedding = next((m for m in model.modules() if type(m).__name__ == "Embedding"), None)
    rng = np.random.default_rng(0)
    example = (rng.integers(0, embedding.num_embeddings, shape) if embedding is not None
               else rng.standard_normal(shape).astype(np.float32))
    formats = ["onnx", "tflite"] if format is Format.all else [format.value]
    report = export_module(model, example, out, formats=formats, progress=say)
    for a in report["artifacts"]:
        worst = ", ".join(f"{k} {v:.1e}" for k, v in a["max_abs_vs_pytorch"].items())
        console().print(f"wrote {out / a['artifact']} ({a['size_bytes'] / 1024:.1f} KiB, {a['format']}, "
                        f"{a['path_taken']} path: {a['why']}); max |Δ| vs PyTorch over {len(a['parity_cases'])} cases: {worst}")
    console().print(f"state: {report['architecture']['state_layout']}; report {out / 'byo-report.json'}")
    if report["refused"]:
        from lstm_edge.errors import ConversionError

        raise ConversionError(", ".join(r["format"] for r in report["refused"]),
                              [r["reason"] for r in report["refused"]])
