"""Shared fixtures: tiny seeded specs, one tiny trained model taken through the pipeline once, and an
untrained checkpoint (with and without its ONNX artefact) for the fast tests."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")    # before anything imports tensorflow
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest

from lstm_edge.model.spec import spec_from_dict
from venvs import base_venv, export_venv, installs, wheel  # noqa: F401  (session fixtures: test_wheel, test_project)

FP32 = {"atol": 1e-5, "rtol": 1e-5}
FP32_STAGES = ("numpy-reference", "onnx-fp32", "tflite-fp32", "tflite-step-fp32", "tflite-seq-fp32")
QUANT_BUDGETS = [  # the shipped spec's budgets (models/sensor.toml)
    {"parent": "onnx-fp32", "child": "onnx-int8-dynamic", "metric_increase": 0.02},
    {"parent": "onnx-fp32", "child": "onnx-int8-static", "metric_increase": 0.02},
    {"parent": "onnx-fp32", "child": "onnx-fp16", "atol": 1e-3, "rtol": 1e-3, "metric_increase": 0.005},
    {"parent": "tflite-fp32", "child": "tflite-dynamic-range", "metric_increase": 0.02},
    {"parent": "tflite-fp32", "child": "tflite-fp16", "atol": 1e-3, "rtol": 1e-3, "metric_increase": 0.005},
    {"parent": "tflite-step-fp32", "child": "tflite-step-dynamic-range", "metric_increase": 0.02},
    {"parent": "tflite-step-fp32", "child": "tflite-step-fp16", "atol": 1e-3, "rtol": 1e-3, "metric_increase": 0.005},
    {"parent": "tflite-seq-fp32", "child": "tflite-seq-dynamic-range", "metric_increase": 0.02},
    {"parent": "tflite-seq-fp32", "child": "tflite-seq-fp16", "atol": 1e-3, "rtol": 1e-3, "metric_increase": 0.005},
    {"parent": "tflite-fp32", "child": "tflite-int8", "metric_increase": 0.02},
    {"parent": "tflite-fp32", "child": "tflite-int8-io", "metric_increase": 0.02},
]


def tiny_spec_dict(**over) -> dict:
    """A spec small enough to train in seconds; the same budgets as the shipped specs."""
    d = {
        "name": "tiny",
        "data": {"days": 21, "window": 30, "split": [0.7, 0.15, 0.15], "targets": ["temperature", "load"]},
        "model": {"hidden_size": 8, "num_layers": 2},
        "train": {"max_epochs": 3, "batch_size": 32, "warmup_steps": 6, "patience": 2},
        "parity": {"batch_sizes": [1, 2, 7], "lengths": [1, 2, 50, 1000]},
        "tolerance": [dict(parent="pytorch", child=c, **FP32) for c in FP32_STAGES]
        + QUANT_BUDGETS,
    }
    for k, v in over.items():
        d[k] = v
    return d


# Session fixtures that train a model: every test using one (directly or through another
# fixture) is marked `slow`, so `make test-fast` (pytest -m "not slow") never trains.
TRAINING_FIXTURES = frozenset({"tiny_run"})


@pytest.hookimpl(tryfirst=True)   # before `-m` deselects by marker
def pytest_collection_modifyitems(items):
    for item in items:
        if TRAINING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def tiny_spec():
    return spec_from_dict(tiny_spec_dict())


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_spec):
    """Train → export → verify the tiny model once; tests read (and copy) what it wrote."""
    from lstm_edge.pipeline import pipeline

    out = tmp_path_factory.mktemp("tiny") / "run"
    report = pipeline(tiny_spec, out, bar=False)
    return out, report


# A short grid and stream: the spec stays valid, nothing here runs 10 000 steps.
FAST_SPEC = tiny_spec_dict(parity={"batch_sizes": [1, 3], "lengths": [1, 40]},
                           streaming={"length": 200, "horizons": [1, 50, 200], "chunk": 7, "fp32": [1e-5] * 3,
                                      "fp16": [1e-3] * 3, "int8": [0.1] * 3})


# ---------------------------------------------------------------------------------------------
# An untrained checkpoint: what `lstm-edge train` writes, with seeded random weights instead of
# trained ones (model.json, model.safetensors, test/val/calibration sets, hashes).
# Built once per session, shared by the fast tests that use it: none writes into it (the checkpoint test tampers with a copy).

@pytest.fixture(scope="session")
def untrained(tmp_path_factory):
    import torch

    from lstm_edge.model.network import SequenceLSTM
    from lstm_edge.model.spec import spec_from_dict
    from lstm_edge.tasks import task_for, task_name
    from lstm_edge.train.checkpoint import save_checkpoint
    from lstm_edge.train.fit import model_dims

    spec = spec_from_dict(FAST_SPEC)
    task = task_for(spec)
    data = task.load(None)
    dims = model_dims(spec, data)
    torch.manual_seed(0)
    model = SequenceLSTM(**dims).eval()
    test, val = task.eval_set(data, "test"), task.eval_set(data, "val")
    with torch.no_grad():
        y, _, _ = model(torch.from_numpy(test["x"]), *model.zero_state(len(test["x"])))
    meta = {"model": spec.name, "spec": spec.to_dict(), "dims": dims, "task": {"name": task_name(spec), **data.extra},
            "features": list(data.features), "targets": list(data.targets), "normalization": data.normalization,
            "data_source": data.source, "training": {"epochs": 0, "best_val_loss": None, "seconds": 0.0, "history": []},
            "test_metrics": task.score(y.numpy(), test)}
    out = tmp_path_factory.mktemp("untrained") / "run"
    out.mkdir()
    tensors = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    save_checkpoint(out, tensors, meta, test, {"x": data.train.x[:16]}, val)
    return out, tensors, json.loads((out / "model.json").read_text())     # with the hashes save_checkpoint adds


@pytest.fixture(scope="session")
def exported(untrained, tmp_path_factory):
    """The untrained checkpoint with its ONNX artefact (torch.onnx export + self-check: about a second)."""
    from lstm_edge.exporting.artifacts import export

    src, _, _ = untrained
    out = tmp_path_factory.mktemp("exported") / "run"
    shutil.copytree(src, out)
    written, refused = export(out, ["onnx"])
    return out, written, refused


# ---------------------------------------------------------------------------------------------
# Every report.json a test writes in this process (verify, pipeline, the CLI through CliRunner) is
# validated against the JSON Schema the package ships (lstm_edge/verify/report.schema.json).

def validate_report(data: dict) -> None:
    import jsonschema

    from lstm_edge.verify.report import SCHEMA

    jsonschema.validate(data, json.loads(SCHEMA.read_text()))


@pytest.fixture(autouse=True, scope="session")
def _every_report_is_schema_valid():
    from lstm_edge.verify import run

    written = run.write_report

    def checked(directory, report, plots=None):
        written(directory, report, plots)
        validate_report(json.loads((Path(directory) / "report.json").read_text()))

    mp = pytest.MonkeyPatch()
    mp.setattr(run, "write_report", checked)
    yield
    mp.undo()
