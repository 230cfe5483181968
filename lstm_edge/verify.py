"""`lstm-edge verify DIR`: every stage in DIR against its parent, then the report.

DIR holds a checkpoint (model.json, model.safetensors, test_set.npz) and artefacts with
sidecars. Stages: pytorch (the root, scored on the task), numpy-reference, and every
artefact whose sidecar names a parent. Hashes are checked before anything is loaded.
"""
from __future__ import annotations

from pathlib import Path

from lstm_edge.artifacts import list_artifacts, read_sidecar
from lstm_edge.checkpoint import load_checkpoint, load_test_set
from lstm_edge.data.windows import Normalization
from lstm_edge.metrics import forecast_metrics
from lstm_edge.parity import StageResult, check_stage, parity_cases
from lstm_edge.report import Report, write_report
from lstm_edge.spec import Tolerance, spec_from_dict


def verify(directory: Path, *, progress=None) -> Report:
    from lstm_edge.model import TorchRunner, load_model
    from lstm_edge.reference import ReferenceLSTM, ReferenceRunner
    from lstm_edge.runtime import open_runner

    directory = Path(directory)
    tensors, meta = load_checkpoint(directory)
    spec = spec_from_dict(meta["spec"], where=f"{directory / 'model.json'}: spec")
    dims, targets = meta["dims"], meta["targets"]
    norm = Normalization.from_dict(meta["normalization"])
    test = load_test_set(directory, meta)
    cases = parity_cases(spec, dims, test["x"])
    say = progress or (lambda msg: None)

    def score(outputs: dict) -> dict:
        return forecast_metrics(outputs["y"][:, -1], test, norm, targets)

    say("pytorch: running the parity cases")
    torch_runner = TorchRunner(load_model(tensors, dims))
    torch_outputs = [torch_runner.run(c.feeds) for c in cases]
    root = StageResult("pytorch", "", "pytorch", "fp32", "model.safetensors",
                       (directory / "model.safetensors").stat().st_size, Tolerance("", "pytorch", 0.0, 0.0),
                       (), {}, metrics=score(torch_outputs[0]))
    stages = [root]

    say("numpy-reference: the seed's equations")
    ref = StageResult("numpy-reference", "pytorch", "numpy", "fp64", None, None,
                      spec.budget("pytorch", "numpy-reference"), ("y", "hn", "cn"), {})
    ref_runner = ReferenceRunner(ReferenceLSTM.from_state_dict(tensors, dims["num_layers"], dims.get("residual", ())))
    ref.metrics = score(check_stage(ref, ref_runner, cases, torch_outputs))
    stages.append(ref)

    for path in list_artifacts(directory):
        info = read_sidecar(path)
        name = path.name.split(".")[0]
        if info.get("parent") != "pytorch":
            continue   # other parents (quantized stages) are compared by their own recipe checks
        say(f"{name}: {info['format']} on {info['runtimes'][0]}")
        stage = StageResult(name, "pytorch", info["format"], info["precision"], path.name, info["size_bytes"],
                            spec.budget("pytorch", name), tuple(info["outputs"]), info.get("missing_outputs", {}))
        stage.metrics = score(check_stage(stage, open_runner(path), cases, torch_outputs))
        stages.append(stage)

    report = Report(model=meta["model"], stages=stages, training=meta["training"],
                    forecast=root.metrics, cases=[c.name for c in cases])
    write_report(directory, report)
    return report
