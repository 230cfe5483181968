"""`lstm-edge verify DIR`: every stage in DIR against its parent, then the report.

DIR holds a checkpoint (model.json, model.safetensors, test_set.npz) and artefacts with
sidecars. Stages: pytorch (the root, scored on the task), numpy-reference, and every
artefact whose sidecar names a parent. Hashes are checked before anything is loaded.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lstm_edge.files import list_artifacts, read_json, read_sidecar
from lstm_edge.errors import InvalidInputError, NothingToVerify
from lstm_edge.train.checkpoint import load_checkpoint, load_test_set
from lstm_edge.data.windows import Normalization
from lstm_edge.exporting.artifacts import REFUSALS
from lstm_edge.verify.parity import StageResult, check_stage, parity_cases
from lstm_edge.verify.report import Report, write_report
from lstm_edge.model.spec import Tolerance, spec_from_dict
from lstm_edge.tasks import task_for


def verify(directory: Path, *, progress=None) -> Report:
    from lstm_edge.model.network import TorchRunner, load_model
    from lstm_edge.model.reference import ReferenceRunner
    from lstm_edge.verify.plots import drift_plot
    from lstm_edge.runtime.probe import probe
    from lstm_edge.runtime.runner import open_sequence_runner

    directory = Path(directory)
    tensors, meta = load_checkpoint(directory)
    if not list_artifacts(directory):     # PyTorch against the NumPy reference alone cannot fail a deployment
        raise NothingToVerify(f"{directory}: no exported artefact beside the checkpoint, and PyTorch against "
                              "the NumPy reference alone is not a check of anything deployed",
                              hint=f"export first: lstm-edge export {directory}")
    spec = spec_from_dict(meta["spec"], where=f"{directory / 'model.json'}: spec")
    dims, targets = meta["dims"], meta["targets"]
    norm = Normalization.from_dict(meta["normalization"])
    test = load_test_set(directory, meta)
    cases = parity_cases(spec, dims, test["x"])
    say = progress or (lambda msg: None)
    task = task_for(spec, meta)

    def score(outputs: dict) -> dict:
        return task.score(outputs["y"], test)

    say("pytorch: running the parity cases")
    torch_runner = TorchRunner(load_model(tensors, dims))
    torch_outputs = [torch_runner.run(c.feeds) for c in cases]
    root = StageResult("pytorch", "", "pytorch", "fp32", "model.safetensors",
                       (directory / "model.safetensors").stat().st_size, Tolerance("", "pytorch", 0.0, 0.0),
                       (), {}, metrics=score(torch_outputs[0]))
    stages = [root]

    say("numpy-reference: the LSTM equations in float64")
    ref = StageResult("numpy-reference", "pytorch", "numpy", "fp64", None, None,
                      spec.budget("pytorch", "numpy-reference"), ("y", "hn", "cn"), {})
    ref_runner = ReferenceRunner.from_checkpoint(tensors, dims)
    ref.metrics = score(check_stage(ref, ref_runner, cases, torch_outputs)[0])
    stages.append(ref)

    # Artefacts, parents before children: fp32 exports against PyTorch, quantized ones against
    # the fp32 artefact of their format (with PyTorch figures recorded beside).
    outputs_of = {"pytorch": torch_outputs}
    metrics_of = {"pytorch": root.metrics}
    pending = [(p, read_sidecar(p)) for p in list_artifacts(directory)]
    while pending:
        ready = [(p, i) for p, i in pending if i.get("parent") in outputs_of]
        if not ready:
            orphans = ", ".join(f"{p.name} (parent {i.get('parent')!r})" for p, i in pending)
            raise InvalidInputError(f"{directory}: artefacts whose parent stage is missing: {orphans}",
                                    hint="re-export the parent, or delete the orphaned artefacts")
        for path, info in ready:
            pending.remove((path, info))
            name, parent = path.name.split(".")[0], info["parent"]
            say(f"{name}: {info['format']} on {info['runtimes'][0]}, against {parent}")
            # first in a child: a native crash must not take verify down (isolated ones always run in one)
            loaded = "ok" if info.get("isolate") else probe(path, batches=(1,))[1]
            if loaded.startswith("crashed"):
                raise InvalidInputError(f"{path}: the runtime {loaded} running this artefact in a child process",
                                        hint="the artefact is not safe to load; re-export it")
            runner = open_sequence_runner(path)   # a step artefact runs whole sequences through a Stream
            # the runner says what it returns and what its format cannot (the fused TFLite kernel: no cn)
            stage = StageResult(name, parent, info["format"], info["precision"], path.name, info["size_bytes"],
                                spec.budget(parent, name), runner.output_names, runner.missing, info=runner.info)
            if info.get("parent_size_bytes"):
                stage.info["size_ratio"] = info["size_bytes"] / info["parent_size_bytes"]
            outs = check_stage(stage, runner, cases, outputs_of[parent],
                               torch_outputs if parent != "pytorch" else None)
            stage.metrics = score(outs[0])
            stage.judge_metric(metrics_of[parent])
            outputs_of[name], metrics_of[name] = outs, stage.metrics
            stages.append(stage)

    say("streaming: stepping one long sequence through every artefact that returns (h, c)")
    streams = check_streams(directory, spec, meta, norm, test["x"], tensors, stages)
    refusals = read_json(directory / REFUSALS) if (directory / REFUSALS).exists() else []
    report = Report(model=meta["model"], task=task.name, stages=stages, training=meta["training"],
                    forecast=root.metrics, cases=[c.name for c in cases], refusals=refusals, streaming=streams)
    plots = [drift_plot(directory, streams)] if streams else []
    if task.name == "forecast" and any(s.info.get("recipe") for s in stages):   # fp32 and every quantized stage of the test windows
        from lstm_edge.verify.plots import forecast_plot

        chosen = [s.name for s in stages if s.name in ("onnx-fp32", "tflite-fp32") or s.info.get("recipe")]
        plots.insert(0, forecast_plot(directory, test["truth"],
                                      {n: norm.invert(outputs_of[n][0]["y"][:, -1].astype(np.float64), targets)
                                       for n in chosen}, targets))
    write_report(directory, report, plots)
    return report


def check_streams(directory: Path, spec, meta: dict, norm, test_x, tensors, stages) -> list:
    """Equivalence and drift for every artefact that can carry a stream (it returns cn)."""
    from lstm_edge.model.network import load_model
    from lstm_edge.runtime import open_runner
    from lstm_edge.verify.streaming import check_stream, stream_input, torch_stream

    dims = meta["dims"]
    x = stream_input(spec, meta, norm, meta["features"], test_x)[:, :max(spec.streaming.horizons)]
    torch_run = torch_stream(load_model(tensors, dims), x, spec.streaming.horizons)
    results = []
    for s in stages:
        if s.artifact is None or "cn" not in s.outputs or s.info.get("isolate"):
            continue   # isolated artefacts run one child process per call: 10⁴ of them is not a check
        runner = open_runner(directory / s.artifact)
        # a step artefact's whole-sequence twin is the fused artefact of the same precision
        twin = directory / s.artifact.replace("tflite-step-", "tflite-")
        whole = runner if not s.info.get("chunk") else open_runner(twin) if twin.exists() else None
        results.append(check_stream(s.name, s.precision if s.precision == "fp32" else s.precision.split("-")[0],
                                    runner, whole, x, torch_run, spec, dims["num_layers"], dims["hidden_size"]))
    return results
