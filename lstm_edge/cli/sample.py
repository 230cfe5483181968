from __future__ import annotations

from pathlib import Path

import typer

from lstm_edge.cli._common import artifact_in, handles_errors, logs_beside

NAME = "sample"


@handles_errors
@logs_beside("directory", in_place=True)
def command(
    directory: Path = typer.Argument(..., help="Output directory of a charlm pipeline (holds model.json)."),
    artifact: str = typer.Option("onnx-fp32.onnx", "--artifact", help="A streaming artefact (returns the cell state)."),
    prompt: str = typer.Option("The ", "--prompt", help="Text to start from."),
    length: int = typer.Option(200, "--length", min=1, help="Characters to generate."),
    temperature: float = typer.Option(0.8, "--temperature", min=0.0, help="0: always the most likely character."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed: same seed, same text."),
):
    """Generate text from a character model through one of its exported artefacts."""
    import json

    from lstm_edge.files import read_sidecar
    from lstm_edge.errors import InvalidInputError, UsageError
    from lstm_edge.runtime import open_runner
    from lstm_edge.runtime.harness.sample import sample_text

    meta_path = directory / "model.json"
    if not meta_path.exists():
        raise InvalidInputError(f"{directory} holds no model.json", hint="run lstm-edge pipeline --model models/charlm.toml")
    task = json.loads(meta_path.read_text()).get("task", {"name": "forecast"})
    if task["name"] != "charlm":
        raise UsageError(f"{directory} holds a {task['name']} model; sampling needs a character model (charlm)")
    path = artifact_in(directory, artifact)      # a name that is not here: exit 2, naming those that are
    read_sidecar(path)   # hash check before the runtime parses it
    text = sample_text(open_runner(path), task["vocabulary"], prompt, length=length,
                       temperature=temperature, seed=seed)
    typer.echo(prompt + text)
