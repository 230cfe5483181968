from __future__ import annotations

from pathlib import Path

import typer

from lstm_edge.cli._common import check_output_dir, finish, handles_errors, logs_beside, say

NAME = "pipeline"


@handles_errors
@logs_beside("out")
def command(
    model: Path = typer.Option(Path("models/sensor.toml"), "--model", help="Model spec (TOML)."),
    out: Path = typer.Option(Path("artifacts"), "--out", help="Output directory (replaced atomically)."),
):
    """Train, export to ONNX and TFLite, quantize, verify every stage, write the report and the device bundle."""
    from lstm_edge.pipeline import BUNDLE, pipeline
    from lstm_edge.model.spec import load_spec

    spec = load_spec(model)
    check_output_dir(out)
    report = pipeline(spec, out, progress=say)
    finish(report, out, extra=(f"wrote the device bundle {out / BUNDLE}; on the device: "
                               f"python -m lstm_edge.runtime verify {BUNDLE}",))
