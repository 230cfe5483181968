from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from lstm_edge.cli._common import check_output_dir, finish, handles_errors, logs_beside, say

NAME = "pipeline"


@handles_errors
@logs_beside("out")
def command(
    model: Optional[Path] = typer.Option(None, "--model", help="Model spec (TOML) to train [default: models/sensor.toml]."),
    project: Optional[Path] = typer.Option(None, "--project", help="Your own model instead: a project file "
                                           "(lstm-edge.toml, from lstm-edge init) naming module, weights, data, metric."),
    out: Path = typer.Option(Path("artifacts"), "--out", help="Output directory (replaced atomically)."),
):
    """Train (or take your --project's module), export to ONNX and TFLite, quantize, verify every stage, write the
    report and the device bundle."""
    from lstm_edge.errors import UsageError
    from lstm_edge.pipeline import BUNDLE, pipeline, project_pipeline

    if model is not None and project is not None:
        raise UsageError("--model and --project do not go together: a spec trains lstm-edge's model, a project "
                         "brings yours", hint="give one of them")
    if project is not None:
        from lstm_edge.project.file import PROJECT_FILE, load_project

        loaded = load_project(project)
        check_output_dir(out)
        budget_file = Path(project) / PROJECT_FILE if Path(project).is_dir() else Path(project)
        report = project_pipeline(loaded, out, progress=say, budget_file=budget_file)
    else:
        from lstm_edge.model.spec import load_spec

        spec_file = model or Path("models/sensor.toml")
        spec = load_spec(spec_file)
        check_output_dir(out)
        report = pipeline(spec, out, progress=say, budget_file=spec_file)
    finish(report, out, extra=(f"wrote the device bundle {out / BUNDLE}; on the device: "
                               f"python -m lstm_edge.runtime verify {BUNDLE}",))
