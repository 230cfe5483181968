"""`lstm-edge verify DIR`: every stage in DIR against its parent, then the report.

DIR holds a model — a spec's checkpoint (model.json, model.safetensors, test_set.npz) or a user's
project (lstm_edge/project/prepare.py), read through lstm_edge/source — and artefacts with
sidecars. Stages: pytorch (the root, scored on the task or the project's metric), numpy-reference
(lstm-edge's own model only), and every artefact whose sidecar names a parent. Hashes are checked
before anything is loaded. An artefact unrolled at one T is run on the cases of that T only.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lstm_edge.files import list_artifacts, read_json, read_sidecar
from lstm_edge.errors import InvalidInputError, NothingToVerify
from lstm_edge.data.windows import Normalization
from lstm_edge.exporting.artifacts import REFUSALS
from lstm_edge.verify.parity import StageResult, check_stage
from lstm_edge.verify.report import Report, write_report
from lstm_edge.model.spec import Tolerance


def verify(directory: Path, *, progress=None, baseline: tuple | None = None, warn_only: bool = False) -> Report:
    """baseline: (the last accepted report.json as a dict, {figure: limit}, its path) from --baseline, judged
    before the report is written (lstm_edge/verify/baseline.py); warn_only: recorded in the report."""
    from lstm_edge.runtime.probe import probe
    from lstm_edge.runtime.runner import open_sequence_runner
    from lstm_edge.source import open_source
    from lstm_edge.verify.plots import drift_plot

    directory = Path(directory)
    source = open_source(directory)        # a spec's checkpoint or a user's project: one chain from here
    if not list_artifacts(directory):     # PyTorch against the NumPy reference alone cannot fail a deployment
        raise NothingToVerify(f"{directory}: no exported artefact beside the model, and PyTorch against "
                              "the NumPy reference alone is not a check of anything deployed",
                              hint=f"export first: lstm-edge export {directory}")
    test, task = source.test_set(), source.task
    cases = source.parity_cases()
    say = progress or (lambda msg: None)

    def score(outputs: dict | None) -> dict:
        return {} if outputs is None else task.score(outputs["y"], test)

    say("pytorch: running the parity cases")
    torch_outputs = [source.torch_runner().run(c.feeds) for c in cases]
    root = StageResult("pytorch", "", "pytorch", "fp32", "model.safetensors",
                       (directory / "model.safetensors").stat().st_size, Tolerance("", "pytorch", 0.0, 0.0),
                       (), {}, metrics=score(torch_outputs[0]))
    stages = [root]

    ref_runner = source.reference_runner()
    if ref_runner is not None:
        say("numpy-reference: the LSTM equations in float64")
        ref = StageResult("numpy-reference", "pytorch", "numpy", "fp64", None, None,
                          source.budget("pytorch", "numpy-reference"), ("y", "hn", "cn"), {})
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
                                source.budget(parent, name), runner.output_names, runner.missing, info=runner.info)
            if info.get("parent_size_bytes"):
                stage.info["size_ratio"] = info["size_bytes"] / info["parent_size_bytes"]
            outs = check_stage(stage, runner, cases, outputs_of[parent],
                               torch_outputs if parent != "pytorch" else None)
            stage.metrics = score(outs[0])
            if stage.metrics:
                stage.judge_metric(metrics_of[parent])
            outputs_of[name], metrics_of[name] = outs, stage.metrics
            stages.append(stage)

    say("streaming: stepping one long sequence through every artefact that returns (h, c)")
    streams = source.check_streams(stages)
    refusals = read_json(directory / REFUSALS) if (directory / REFUSALS).exists() else []
    report = Report(model=source.name, task=task.name, stages=stages, training=source.meta.get("training", {}),
                    forecast=root.metrics, cases=[c.name for c in cases], refusals=refusals, streaming=streams,
                    provenance=source.provenance(), warn_only=warn_only)
    judge_baseline(report, baseline)
    plots = [drift_plot(directory, streams)] if streams else []
    if task.name == "forecast" and any(s.info.get("recipe") for s in stages):   # fp32 and every quantized stage of the test windows
        from lstm_edge.verify.plots import forecast_plot

        norm, targets = Normalization.from_dict(source.meta["normalization"]), source.meta["targets"]
        chosen = [s.name for s in stages if s.name in ("onnx-fp32", "tflite-fp32") or s.info.get("recipe")]
        plots.insert(0, forecast_plot(directory, test["truth"],
                                      {n: norm.invert(outputs_of[n][0]["y"][:, -1].astype(np.float64), targets)
                                       for n in chosen}, targets))
    write_report(directory, report, plots)
    return report


def judge_baseline(report: Report, baseline: tuple | None) -> None:
    """--baseline: the report's figures against the last accepted run's (lstm_edge/verify/baseline.py)."""
    if baseline is None:
        return
    from lstm_edge.verify.baseline import regressions

    stored, limits, path = baseline
    report.regressions, report.baseline = regressions(report.to_dict(), stored, limits), str(path)
