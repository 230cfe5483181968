"""prepare(project, DIR): a user's project laid out as a directory the chain runs on.

    DIR/lstm-edge.toml        the project, its paths pointing at the copies below (DIR is self-contained:
                              `lstm-edge verify DIR` and `bundle DIR` need nothing outside it)
    DIR/module/<file>.py      the user's module file, copied
    DIR/model.safetensors     their weights, copied (checked against the module first)
    DIR/evaluation.npz        x, y[, lengths]: verify scores every stage on it with the project's metric;
                              quantize chooses between a recipe's attempts on it too (a project has one set)
    DIR/calibration.npz       x, for the quantizers (the evaluation inputs when data.calibration is empty)
    DIR/model.json            "kind": "project", the project (paths relative to DIR), the recognised
                              architecture, the I/O names, y's batch axis, and the sha256 of every file above
    DIR/onnx-fp32.onnx, DIR/tflite-fp32.tflite   the fp32 artefacts of `export --module` (lstm_edge/byo/export.py),
                              each checked against PyTorch where it was made; sidecars name "pytorch" as parent
    DIR/byo-report.json       what the exporter recognised, wrote and refused

The example the exporter converts at has module.example_shape, and its T must be the evaluation
set's T: the general TFLite path is unrolled at the example's T and is scored on that set.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from lstm_edge.byo import support
from lstm_edge.errors import InvalidInputError
from lstm_edge.files import read_json, sha256_file, write_json_atomic, write_sidecar
from lstm_edge.byo.step import STEP
from lstm_edge.project.file import PROJECT_FILE, project_toml, read_data

COPIED = ("model.safetensors", "evaluation.npz", "calibration.npz")
RENAMED = {"model.onnx": "onnx-fp32.onnx", "model.tflite": "tflite-fp32.tflite"}


def load_user_module(project):
    """The project's module with its weights, in eval mode (exit 3/4 naming what does not fit)."""
    from lstm_edge.byo.load import load_module, load_weights

    file, _, cls = project.module.path.rpartition(":")
    model = load_module(f"{project.path(file)}:{cls}", json.dumps(project.module.init_args))
    load_weights(model, project.path(project.module.weights))
    return model


def prepare(project, out: Path, *, progress=None, budget_file: Path | None = None) -> dict:
    """Copy, check and export into `out` (a staging directory: the caller publishes it). → model.json.
    budget_file: the project file as the user named it (report.json and CI annotations point at its budget lines)."""
    from lstm_edge.byo.example_shape import check_example_shape, example_input
    from lstm_edge.byo.export import export_module

    say = progress or (lambda msg: None)
    out = Path(out)
    model = load_user_module(project)
    evaluation, calibration = read_data(project, "evaluation"), read_data(project, "calibration")
    shape = tuple(project.module.example_shape)
    example = example_input(model, shape)
    check_example_shape(model, example, ",".join(map(str, shape)), label=f"module.example_shape {list(shape)}")
    say(f"exporting {project.module.path} at x {list(shape)} (ONNX and TFLite, each checked against PyTorch)")
    takes_lengths = support.lengths_parameter(model) is not None
    _check_lengths(project, evaluation, takes_lengths, model)
    # forward(x, lengths): the batches of the chain have variable lengths, which TFLite (one length per call) cannot take
    formats = ("onnx",) if takes_lengths else ("onnx", "tflite")
    report = export_module(model, example, out / "export", progress=say, tflite_time=project.module.tflite_time,
                           formats=formats)
    if takes_lengths:
        why = ("forward(x, lengths): the project's batches have variable lengths, and the TFLite artefact takes one "
               "length per call (no lengths input)")
        say(f"tflite: refused — {why}")
        report["refused"].append({"format": "tflite", "reason": why})
    arch = report["architecture"]
    bx = 0 if arch["batch_first"] else 1
    for name, data in (("evaluation", evaluation), ("calibration", calibration)):
        if data["x"].shape[1 - bx] != shape[1 - bx] and name == "evaluation":
            raise InvalidInputError(f"{project.path(project.data.evaluation)}: x has T = {data['x'].shape[1 - bx]}, "
                                    f"module.example_shape has T = {shape[1 - bx]}",
                                    hint="set example_shape's T to the evaluation set's: the general TFLite path is "
                                         "unrolled at it and scored on that set")
        if data["x"].shape[bx] < 2:
            raise InvalidInputError(f"{project.path(getattr(project.data, name) or project.data.evaluation)}: "
                                    f"x has {data['x'].shape[bx]} row(s); the {name} set needs at least 2")
    _check_metric_direction(project, model, report, evaluation)
    streaming = _step_artifact(project, model, report, out / "export", say)
    (out / "module").mkdir()
    file, _, cls = project.module.path.rpartition(":")
    module_copy = Path("module") / Path(file).name
    shutil.copy2(project.path(file), out / module_copy)
    shutil.copy2(project.path(project.module.weights), out / "model.safetensors")
    for name, data in (("evaluation", evaluation), ("calibration", calibration)):
        with open(out / f"{name}.npz", "wb") as f:
            np.savez(f, **data)
    y_axis = report["y_batch_axis"]
    if (out / "export" / STEP).exists():
        for f in (STEP, STEP + ".json"):
            (out / "export" / f).rename(out / f)
    for old, new in RENAMED.items():          # the chain's names; the sidecar gains the chain's keys
        if (out / "export" / old).exists():
            info = read_json(out / "export" / f"{old}.json")
            (out / "export" / old).rename(out / new)
            write_sidecar(out / new, info | {"kind": "artifact", "parent": "pytorch", "precision": "fp32",
                                             "y_batch_axis": y_axis})
    shutil.move(str(out / "export" / "byo-report.json"), out / "byo-report.json")
    shutil.rmtree(out / "export")
    local = project.to_dict()
    local["module"] |= {"path": f"{module_copy.as_posix()}:{cls}", "weights": "model.safetensors"}
    local["data"] = {"evaluation": "evaluation.npz", "calibration": "calibration.npz"}
    if project.metric.function:
        mfile, _, func = project.metric.function.rpartition(":")
        if Path(project.path(mfile)).resolve() != Path(project.path(file)).resolve():
            shutil.copy2(project.path(mfile), out / "module" / Path(mfile).name)
        local["metric"] = local["metric"] | {"function": f"module/{Path(mfile).name}:{func}"}
    (out / PROJECT_FILE).write_text(project_toml(local))
    meta = {"kind": "project", "model": project.name, "project": local, "architecture": arch,
            "inputs": report["inputs"], "outputs": report["outputs"], "y_batch_axis": y_axis,
            "example_shape": list(shape), "refused_formats": report["refused"], "streaming": streaming,
            "sha256": {p.relative_to(out).as_posix(): sha256_file(p)
                       for p in sorted(out.rglob("*")) if p.is_file() and (p.parent.name == "module"
                                                                            or p.name in COPIED)}}
    if budget_file is not None:
        meta["budget_file"] = str(budget_file)
    write_json_atomic(out / "model.json", meta)
    return meta


def _check_lengths(project, evaluation: dict, takes_lengths: bool, model) -> None:
    """The evaluation set's optional `lengths`: int64, one per row, each in 1 … T — and only for a module whose
    forward() takes them (for another they would be ignored without a word)."""
    if "lengths" not in evaluation:
        return
    where = f"{project.path(project.data.evaluation)} (data.evaluation)"
    if not takes_lengths:
        raise InvalidInputError(f"{where} has 'lengths', but {project.module.path}'s forward() takes none: they would "
                                "be ignored", hint="drop 'lengths' from the npz, or give forward() a lengths argument")
    lengths, x = evaluation["lengths"], evaluation["x"]
    bx = support.batch_axis(model)
    T = x.shape[1 - bx]
    if lengths.dtype != np.int64 or lengths.shape != (x.shape[bx],) or (lengths < 1).any() or (lengths > T).any():
        raise InvalidInputError(f"{where}: 'lengths' must be int64 of shape ({x.shape[bx]},) with each value in 1 … {T}; "
                                f"got {lengths.dtype} {lengths.shape}, values {int(lengths.min()) if lengths.size else '—'}"
                                f" … {int(lengths.max()) if lengths.size else '—'}")


def _check_metric_direction(project, model, report: dict, evaluation: dict) -> None:
    """PyTorch must beat its own shuffled predictions on the evaluation set under the stated direction
    (lstm_edge/project/task.py), before any quantization is judged by it: a direction given the wrong
    way round would pick the worst attempts and call them better."""
    from lstm_edge.byo.recognise import architecture_from_dict
    from lstm_edge.byo.wrap import TorchModuleRunner, state_shapes
    from lstm_edge.project.task import ProjectTask

    arch = architecture_from_dict(report["architecture"])
    rows = evaluation["x"].shape[0 if arch.batch_first else 1]
    feeds = {"x": evaluation["x"]} | {k: np.zeros(s, np.float32) for k, s in state_shapes(arch, rows).items()}
    if arch.lengths:
        feeds["lengths"] = evaluation.get("lengths", np.full(rows, evaluation["x"].shape[1], np.int64))
    y = TorchModuleRunner(model, arch, report["inputs"], report["outputs"]).run(feeds)["y"]
    task = ProjectTask(project, report["y_batch_axis"])
    m = task.score(y, evaluation)
    if not m["beats_baseline"]:
        raise InvalidInputError(
            f"{project.path(project.data.evaluation)}: PyTorch's {task.metric} {m['value']:.6g} is not better than "
            f"{m['baseline']:.6g}, the same predictions with the rows shuffled, when "
            f"{'lower' if task.lower_is_better else 'higher'} is better",
            hint="check [metric] lower_is_better (it may be the wrong way round), that y matches x row by row, "
                 "and that the weights are the trained ones")


def _step_artifact(project, model, report: dict, export_dir: Path, say) -> dict:
    """The streaming step artefact (lstm_edge/byo/step.py), when the project budgets it (a
    [[tolerance]] pytorch → tflite-step-fp32 row: `lstm-edge init` writes one for a module that can
    stream) and the module can stream; → what model.json records about streaming."""
    from lstm_edge.byo.recognise import architecture_from_dict
    from lstm_edge.byo.step import export_step, why_not_streamable

    arch = architecture_from_dict(report["architecture"])
    why = why_not_streamable(arch)                 # what the module cannot do first, then what the project asks
    if why:
        say(f"streaming: refused — {why}")
        return {"step_artifact": None, "why": why}
    if not any((t.parent, t.child) == ("pytorch", "tflite-step-fp32") for t in project.tolerance):
        return {"step_artifact": None, "why": "the project has no budget for tflite-step-fp32"}
    export_step(model, arch, tuple(project.module.example_shape), report["y_batch_axis"], export_dir / STEP, say)
    return {"step_artifact": STEP}
