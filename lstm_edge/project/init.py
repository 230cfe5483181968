"""`lstm-edge init`: a starting project file (lstm-edge.toml) from what lstm-edge inspects in a user's module.

The module is loaded with its weights and recognised (lstm_edge/byo/recognise.py) before anything is
written, so a module the chain cannot take is refused here (exit 3, naming the layer) and not after
an export. The file names every key with a comment; the budgets are the ones lstm-edge's own specs
hold (models/sensor.toml), for the stages this architecture gets — they are data for the user to
edit, not defaults hidden in code. Paths are written relative to the file's directory.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

# (parent, child, atol, rtol, metric_increase): fp32 exports hold 1e-5 against PyTorch; quantized
# stages are judged by the metric against their fp32 parent, their element errors recorded. lstm-edge's
# own specs also hold fp16 stages element-wise at 1e-3, which their training keeps true (weight decay
# keeps the gains small); a user's model need not: the keyword-spotting GRU of tests/test_project.py,
# trained as users train, measured 2.9e-3 on hn and 7e-3 on y at T = 1000 in fp16 with an unchanged
# accuracy. The starting file says so and leaves the element budget to the user (commented out).
BUDGETS = (
    ("pytorch", "onnx-fp32", 1e-5, 1e-5, None),
    ("pytorch", "tflite-fp32", 1e-5, 1e-5, None),
    ("onnx-fp32", "onnx-int8-dynamic", None, None, 0.02),
    ("onnx-fp32", "onnx-int8-static", None, None, 0.02),
    ("onnx-fp32", "onnx-fp16", None, None, 0.005),
    ("tflite-fp32", "tflite-dynamic-range", None, None, 0.02),
    ("tflite-fp32", "tflite-fp16", None, None, 0.005),
)
STEP_BUDGETS = (          # written for a module that can stream (lstm_edge/byo/step.py)
    ("pytorch", "tflite-step-fp32", 1e-5, 1e-5, None),
    ("tflite-step-fp32", "tflite-step-dynamic-range", None, None, 0.02),
    ("tflite-step-fp32", "tflite-step-fp16", None, None, 0.005),
)


def write_project(out: Path, *, module: str, weights: Path, example_shape: tuple[int, ...], init_args: dict,
                  evaluation: Path | None, calibration: Path | None, metric: str | None, metric_function: str | None,
                  lower_is_better: bool | None, name: str | None) -> str:
    """Inspect, then write `out`; → the architecture's description."""

    from lstm_edge.byo.example_shape import check_example_shape, example_input
    from lstm_edge.byo.recognise import recognise
    from lstm_edge.byo.load import load_module, load_weights
    from lstm_edge.files import write_bytes_atomic

    model = load_module(module, json.dumps(init_args))
    load_weights(model, weights)
    example = example_input(model, example_shape)
    check_example_shape(model, example, ",".join(map(str, example_shape)))
    import torch

    from lstm_edge.project.file import toml_value

    arch = recognise(model.eval(), torch.as_tensor(example))
    base = out.parent.resolve()

    def rel(p) -> str:
        return Path(os.path.relpath(Path(p).resolve(), base)).as_posix()

    file, _, cls = module.rpartition(":")
    lines = [
        "# lstm-edge project: your own model through the whole chain (lstm-edge pipeline --project THIS_FILE).",
        f"# Written by lstm-edge init. Recognised: {arch.describe()}; state {arch.state_layout}.",
        "# Every key is checked as the file is read: an unknown key, a wrong type or a missing file is exit 3.",
        "# Paths are relative to this file.",
        f"name = {toml_value(name or Path(file).stem)}",
        'description = ""',
        "",
        "[module]",
        f"path = {toml_value(rel(file) + ':' + cls)}          # file.py:ClassName (the file must import only installed packages)",
        f"weights = {toml_value(rel(weights))}   # safetensors only (a pickle is refused unopened, exit 4)",
        f"example_shape = {list(example_shape)}     # x as forward() takes it; its T must be the evaluation set's T",
        f"init_args = {toml_value(init_args)}           # the class's constructor keyword arguments",
        'tflite_time = "any"   # GRU, proj_size, bidirectional: TFLite as a WHILE loop taking any T; "fixed": unrolled at',
        "                      # example_shape's T (measured 5× faster at T = 30 for a GRU, and it takes that T only)",
        "",
        "[data]",
        f"evaluation = {toml_value(rel(evaluation) if evaluation else 'eval.npz')}   "
        "# npz: x (as forward() takes it), y (what the metric compares the output with), optional lengths",
        f"calibration = {toml_value(rel(calibration) if calibration else '')}   # npz: x for the quantizers; \"\" = the evaluation inputs",
        "",
        "[metric]   # one of: name (built-in: mae, rmse, mse, accuracy, f1, cross_entropy) or function",
    ]
    if metric_function:
        mfile, _, func = metric_function.rpartition(":")
        lines += [f"function = {toml_value(rel(mfile) + ':' + func)}   # called as function(y_pred, y_true) -> float",
                  f"lower_is_better = {'true' if lower_is_better else 'false'}"]
    else:
        lines += [f"name = {toml_value(metric or _default_metric(model, arch, example))}"]
    lines += ["", "[parity]   # the random grid every artefact is checked on, besides the evaluation set",
              "batch_sizes = [1, 2, 7]", "lengths = [1, 2, 50, 1000]", "seed = 1234", "",
              "# Budgets per (parent, child) stage: |child - parent| <= atol + rtol * |parent| element-wise, and the",
              "# metric may get worse by at most metric_increase (relative: 0.02 = 2 %) than the parent's."]
    from lstm_edge.byo.step import why_not_streamable
    from lstm_edge.project.file import PROJECT_STREAMING as st

    if why_not_streamable(arch) is None:
        lines[-2:-2] = ["[streaming]   # the step artefact stepped 10 000 steps through your evaluation rows, against PyTorch",
                        f"length = {st.length}", f"horizons = {toml_value(list(st.horizons))}", f"chunk = {st.chunk}",
                        f"fp32 = {toml_value(list(st.fp32))}   # drift budget per horizon (atol = rtol)",
                        f"fp16 = {toml_value(list(st.fp16))}   # [] = recorded, judged by the metric only "
                        "(lstm-edge's own models hold 1e-3)", f"int8 = {toml_value(list(st.int8))}", ""]
    for parent, child, atol, rtol, inc in budget_rows(arch):
        lines += ["", "[[tolerance]]", f'parent = "{parent}"', f'child = "{child}"']
        lines += [f"atol = {atol:g}", f"rtol = {rtol:g}"] if atol is not None else []
        if child.endswith("fp16"):
            lines += ["# atol = 1e-3   # uncomment to also hold every element (lstm-edge's own models do)",
                      "# rtol = 1e-3"]
        lines += [f"metric_increase = {inc:g}"] if inc is not None else []
    write_bytes_atomic(out, ("\n".join(lines) + "\n").encode())
    return arch.describe()


def _default_metric(model, arch, example) -> str:
    """accuracy for one answer per sequence (a head on the last step or the mean; for a traced graph, y of
    (B, classes)), mae for anything else: a starting point the user edits."""
    if arch.head_kind in ("last", "mean"):
        return "accuracy"
    if arch.head_kind == "graph":
        import torch

        from lstm_edge.byo.inspect import run

        y = run(model, torch.as_tensor(example), "the example")
        return "accuracy" if y.dim() == 2 and y.shape[1] > 1 else "mae"
    return "mae"


def budget_rows(arch) -> list[tuple]:
    """The budgets a project starts with for this architecture (init writes them; the Python API uses them):
    no ONNX rows for a projected LSTM (ONNX's LSTM op has no projection), step rows for a module that streams."""
    from lstm_edge.byo.step import why_not_streamable

    rows = list(BUDGETS) + (list(STEP_BUDGETS) if why_not_streamable(arch) is None else [])
    return [r for r in rows if not (arch.proj_size and "onnx" in r[1])]
