from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from lstm_edge.cli._common import check_output_dir, console, handles_errors, logs_beside, say
from lstm_edge.converters.recipes import RECIPES

NAME = "export"


class Format(str, Enum):
    onnx = "onnx"
    tflite = "tflite"
    all = "all"


def _byo_asked(kw: dict) -> bool:
    return any(kw[k] is not None for k in ("module", "weights", "example_shape", "init_args"))


@handles_errors
@logs_beside("directory", in_place=lambda kw: not _byo_asked(kw))
def command(
    directory: Path = typer.Argument(..., help="Directory holding a checkpoint (from train or pipeline)."),
    format: Optional[Format] = typer.Option(None, "--format", help="Which fp32 artefacts to (re)write (default all)."),
    # One recipe a line, kept as is ("\b"): wrapped, a name breaks at its hyphens ("tflite-dynamic-" / "range").
    quantize: Optional[list[str]] = typer.Option(None, "--quantize", help="Recipe to apply (repeatable), one of:\n\n\b\n"
                                                 + "\n".join(RECIPES)),
    only_quantize: bool = typer.Option(False, "--only-quantize", help="Keep the fp32 artefacts; only run the "
                                       "--quantize recipes."),
    module: Optional[str] = typer.Option(None, "--module", help="Your own model, path/to/file.py:ClassName; "
                                         "DIRECTORY is then the output directory."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="With --module: its weights (safetensors only)."),
    example_shape: Optional[str] = typer.Option(None, "--example-shape", help="With --module: x's shape, e.g. 2,50,4 "
                                                "((B, T) of token ids for an Embedding input)."),
    init_args: Optional[str] = typer.Option(None, "--init-args", help="With --module: constructor kwargs as JSON."),
):
    """Write ONNX / TFLite artefacts of the checkpoint in DIRECTORY (or of your --module), each checked as it is made;
    exit 1 if a recipe is refused. Every option is checked before anything is written."""
    from lstm_edge.errors import UsageError

    if _byo_asked(dict(module=module, weights=weights, example_shape=example_shape, init_args=init_args)):
        for flag, given in (("--quantize", quantize), ("--only-quantize", only_quantize)):
            if given:
                raise UsageError(f"{flag} does not apply to --module exports yet: they write fp32 artefacts only",
                                 hint=f"drop {flag}; quantize your model's artefacts with their own tools for now")
        return _byo(directory, format or Format.all, module, weights, example_shape, init_args)
    recipes = _check_recipes(directory, format, quantize or [], only_quantize)

    from lstm_edge.exporting.artifacts import FORMATS, export

    formats = [] if only_quantize else list(FORMATS) if format in (None, Format.all) else [format.value]
    written, refused = export(directory, formats, recipes=recipes, progress=say)
    for info in written:
        ratio = f", {info['size_bytes'] / info['parent_size_bytes']:.2f}× {info['parent']}" if "parent_size_bytes" in info else ""
        console().print(f"wrote {directory / info['artifact']} ({info['size_bytes'] / 1024:.1f} KiB{ratio}, "
                        f"sha256 {info['sha256'][:12]}…): self-check passed")
    for r in refused:
        console().print(f"[red]refused[/red] {r['reason']}")
    if refused:
        raise typer.Exit(1)


def _check_recipes(directory: Path, format: Format | None, recipes: list[str], only_quantize: bool) -> list[str]:
    """Every recipe name and flag before anything is written (an export rewrites the fp32 artefacts
    first, which takes seconds): unknown names and flags that do not apply are usage errors (2); a
    recipe whose fp32 parent neither exists nor is being written is exit 3, as quantize says later."""
    from lstm_edge.converters.recipes import recipe
    from lstm_edge.errors import InvalidInputError, UsageError

    if only_quantize and not recipes:
        raise UsageError("--only-quantize runs the --quantize recipes and nothing else, and none was given",
                         hint=f"add --quantize RECIPE (one of {', '.join(RECIPES)}), or drop --only-quantize")
    if only_quantize and format is not None:
        raise UsageError(f"--format {format.value} does not apply with --only-quantize: the fp32 artefacts are kept",
                         hint="drop --format, or drop --only-quantize to rewrite them")
    chosen = [recipe(name) for name in recipes]            # an unknown name: exit 2, naming the recipes
    if (directory / "model.json").is_file():               # no checkpoint: export says so first
        from lstm_edge.exporting.artifacts import ARTIFACTS

        fmt = None if only_quantize else (format or Format.all).value
        writing = {ARTIFACTS[k] for k in ARTIFACTS if fmt in ("all", k.split("-")[0])}
        for r in chosen:
            parent = f"{r.parent}{r.suffix}"
            if parent not in writing and not (directory / parent).is_file():
                raise InvalidInputError(f"{r.name} quantizes {parent}, which is not in {directory}",
                                        hint=f"export it first: lstm-edge export {directory} --format {r.format}")
    return recipes


def _parse_shape(example_shape: str) -> tuple[int, ...]:
    from lstm_edge.errors import UsageError

    try:
        shape = tuple(int(v) for v in example_shape.split(","))
    except ValueError:
        raise UsageError(f"--example-shape {example_shape!r}: expected integers like 2,50,4")
    if len(shape) < 2 or min(shape) < 1:
        raise UsageError(f"--example-shape {example_shape!r}: at least (B, T), every size ≥ 1")
    return shape


def _byo(out: Path, format: Format, module, weights, example_shape, init_args) -> None:
    from lstm_edge.errors import UsageError

    if not (module and weights and example_shape):
        raise UsageError("--module, --weights and --example-shape go together",
                         hint="lstm-edge export OUT --module net.py:Net --weights net.safetensors --example-shape 2,50,4")
    shape = _parse_shape(example_shape)
    check_output_dir(out, "OUT")

    from lstm_edge.byo.export import export_module
    from lstm_edge.byo.load import load_module, load_weights
    from lstm_edge.byo.example_shape import check_example_shape, example_input

    model = load_module(module, init_args)
    load_weights(model, weights)
    example = example_input(model, shape)
    check_example_shape(model, example, example_shape)
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
