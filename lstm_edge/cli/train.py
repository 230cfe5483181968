from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from lstm_edge.cli._common import check_output_dir, console, handles_errors, logs_beside, say

NAME = "train"


@handles_errors
@logs_beside("out")
def command(
    model: Path = typer.Option(Path("models/sensor.toml"), "--model", help="Model spec (TOML)."),
    out: Path = typer.Option(..., "--out", help="Directory for the checkpoint."),
    data: Optional[Path] = typer.Option(None, "--data", help="Train on this CSV instead of the spec's data."),
    target: Optional[list[str]] = typer.Option(None, "--target", help="CSV column to forecast (repeatable)."),
    feature: Optional[list[str]] = typer.Option(None, "--feature", help="CSV input column (repeatable; default: all numeric)."),
    time_column: Optional[str] = typer.Option(None, "--time-column", help="CSV timestamp column (must increase)."),
    period: Optional[int] = typer.Option(None, "--period", help="Seasonal period in rows, for the baseline."),
):
    """Train a reference model; writes model.safetensors, model.json and test_set.npz into OUT."""
    from lstm_edge.errors import UsageError
    from lstm_edge.files import staged_output
    from lstm_edge.model.spec import with_data_overrides, load_spec
    from lstm_edge.tasks import task_for
    from lstm_edge.train.fit import train

    spec = with_data_overrides(load_spec(model), data=data, targets=target, features=feature, period=period)
    if time_column is not None and (data is None or spec.data.source == "text"):
        raise UsageError(f"--time-column {time_column} names a column of a forecasting --data CSV; "
                         + ("no --data was given" if data is None else f"'{spec.name}' trains on text"),
                         hint="drop --time-column" + (", or add --data FILE" if data is None else ""))
    check_output_dir(out)
    task = task_for(spec)
    task_data = task.load(data, time_column=time_column)
    say(f"training '{spec.name}' ({task.name}) on {task_data.source}: {len(task_data.train.x)} training windows")
    with staged_output(out) as staging:
        result = train(spec, task, task_data, staging, budget_file=model)
    console().print(f"{result.meta['test_metrics']['summary']}; wrote {out}")
