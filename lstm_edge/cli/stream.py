from __future__ import annotations

from pathlib import Path

import typer

from lstm_edge.cli._common import artifact_in, handles_errors, logs_beside

NAME = "stream"


@handles_errors
@logs_beside("directory", in_place=True)
def command(
    directory: Path = typer.Argument(..., help="Output directory of pipeline/export."),
    input: Path = typer.Option(..., "--input", help="CSV with the model's feature columns (raw units), or npz with x (T, F)."),
    artifact: str = typer.Option("onnx-fp32.onnx", "--artifact", help="A streaming artefact (returns the cell state)."),
    every: int = typer.Option(1, "--every", min=1, help="Print every N-th step (anomalies always)."),
    threshold: float = typer.Option(4.0, "--threshold", min=0.0, help="Anomaly when |observed − forecast| > threshold × σ."),
):
    """Stream a file through an artefact one step at a time; print forecasts and anomaly flags."""
    from lstm_edge.stream.session import stream_session

    artifact_in(directory, artifact)      # a name that is not here: exit 2, naming those that are
    steps = flagged = 0
    for r in stream_session(directory, input, artifact=artifact, threshold=threshold):
        steps += 1
        flags = "  ".join(f"ANOMALY {k}: observed {o:.3f}, forecast {f:.3f}" for k, (o, f) in r.anomalies.items())
        flagged += bool(r.anomalies)
        if r.t % every == 0 or flags:
            typer.echo(f"{r.t:>7}  " + "  ".join(f"{k}→{v:.3f}" for k, v in r.forecast.items()) + (f"  {flags}" if flags else ""))
    typer.echo(f"{steps} steps streamed through {artifact}; {flagged} flagged as anomalous")
