from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from lstm_edge.cli._common import console, handles_errors

NAME = "init"


@handles_errors
def command(
    module: str = typer.Option(..., "--module", help="Your model, path/to/file.py:ClassName."),
    weights: Path = typer.Option(..., "--weights", help="Its weights (safetensors only)."),
    example_shape: str = typer.Option(..., "--example-shape", help="x's shape as forward() takes it, e.g. 2,50,4 "
                                      "((B, T) of token ids for an Embedding input); T must be the evaluation set's T."),
    init_args: Optional[str] = typer.Option(None, "--init-args", help="Constructor kwargs as JSON."),
    evaluation: Optional[Path] = typer.Option(None, "--evaluation", help="npz with x and y (and optional lengths): "
                                              "every stage is scored on it with the metric."),
    calibration: Optional[Path] = typer.Option(None, "--calibration", help="npz with x for the quantizers "
                                               "(default: the evaluation inputs)."),
    metric: Optional[str] = typer.Option(None, "--metric", help="Built-in metric: mae, rmse, mse, accuracy, f1, "
                                         "cross_entropy (default: accuracy for a last-step or mean head, else mae)."),
    metric_function: Optional[str] = typer.Option(None, "--metric-function", help="Your own metric instead, "
                                                  "file.py:function(y_pred, y_true) -> float; needs --lower-is-better or "
                                                  "--higher-is-better."),
    lower_is_better: Optional[bool] = typer.Option(None, "--lower-is-better/--higher-is-better",
                                                   help="With --metric-function: which way the metric improves."),
    name: Optional[str] = typer.Option(None, "--name", help="The project's name (default: the module file's stem)."),
    out: Path = typer.Option(Path("lstm-edge.toml"), "--out", help="The project file to write (never overwritten)."),
):
    """Write a starting project file (lstm-edge.toml) for your own module: inspected first, every key commented.
    Then: lstm-edge pipeline --project lstm-edge.toml --out OUT."""
    from lstm_edge.byo.load import parse_init_args
    from lstm_edge.cli.export import _parse_shape
    from lstm_edge.errors import UsageError
    from lstm_edge.project.init import write_project

    shape = _parse_shape(example_shape)
    if out.exists():
        raise UsageError(f"--out {out} exists; init never overwrites a project file", hint="choose another --out")
    if metric and metric_function:
        raise UsageError("--metric and --metric-function do not go together", hint="give one of them")
    if metric_function and lower_is_better is None:
        raise UsageError("--metric-function needs --lower-is-better or --higher-is-better: lstm-edge cannot know "
                         "which way your metric improves")
    if lower_is_better is not None and not metric_function:
        raise UsageError("--lower-is-better/--higher-is-better go with --metric-function (a built-in metric knows "
                         "its direction)")
    if metric:
        from lstm_edge.runtime.metrics import BUILTIN

        if metric not in BUILTIN:
            raise UsageError(f"--metric {metric!r} is not a built-in metric", hint=f"choose from {', '.join(BUILTIN)}")
    for flag, path in (("--evaluation", evaluation), ("--calibration", calibration)):
        if path is not None and not path.is_file():
            raise UsageError(f"{flag} {path} does not exist")
    kwargs = parse_init_args(init_args)
    described = write_project(out, module=module, weights=weights, example_shape=shape, init_args=kwargs,
                              evaluation=evaluation, calibration=calibration, metric=metric,
                              metric_function=metric_function, lower_is_better=lower_is_better, name=name)
    console().print(f"wrote {out}: {described}")
    if evaluation is None:
        console().print("  set [data] evaluation to your npz (x, y) before running the pipeline")
    console().print(f"next: lstm-edge pipeline --project {out} --out OUT")
