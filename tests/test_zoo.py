"""The model zoo: each shipped spec through a short pipeline (train → export → quantize → verify →
bundle), the task's metric computed the same way on the host and on the device, and the tasks'
own pieces (generators, metrics, sampling) checked directly."""
from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from lstm_edge.model.spec import spec_from_dict

MODELS = Path(__file__).parent.parent / "models"


def short_spec(name: str, **data):
    """The shipped spec, shrunk to seconds: fewer sequences and epochs, a short stream."""
    raw = tomllib.loads((MODELS / f"{name}.toml").read_text())
    raw["data"] |= data
    raw["model"] |= {"hidden_size": 8}
    raw["train"] |= {"max_epochs": 2, "patience": 2}
    raw["parity"] = {"batch_sizes": [1, 3], "lengths": [1, 40]}
    raw["streaming"] = {"length": 300, "horizons": [1, 100, 300], "chunk": 7, "fp32": [1e-5] * 3,
                        "fp16": [1e-3] * 3, "int8": [0.1] * 3}
    return spec_from_dict(raw)


SHORT = {"adding": {"sequences": 300, "window": 40}, "gesture": {"sequences": 300, "window": 32},
         "charlm": {"window": 32}}


@pytest.mark.slow   # trains, converts with TensorFlow, quantizes, bundles
@pytest.mark.parametrize("name", sorted(SHORT))
def test_zoo_model_through_a_short_pipeline(name, tmp_path):
    from lstm_edge.pipeline import pipeline

    spec = short_spec(name, **SHORT[name])
    out = tmp_path / name
    report = pipeline(spec, out, bar=False)
    stages = {s.name: s for s in report.stages}
    assert report.task == name
    # every fp32 artefact matches PyTorch on the test windows and the random grid, within 1e-5
    for stage in ("numpy-reference", "onnx-fp32", "tflite-fp32", "tflite-step-fp32"):
        assert stages[stage].passed, (stage, report.failures())
    root = stages["pytorch"].metrics
    assert {"metric", "value", "baseline", "beats_baseline", "lower_is_better"} <= set(root)
    # every quantized stage is judged on the task's own metric, in the task's direction
    for s in report.stages:
        if s.metric_check:
            assert s.metric_check["metric"] == root["metric"]
    assert all(r.passed for r in report.streaming if r.precision == "fp32"), report.failures()
    # the device harness scores the same metric from the golden vectors: PASS in a fresh process
    r = subprocess.run([sys.executable, "-m", "lstm_edge.runtime", "verify", str(out / "bundle")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verdict: PASS" in r.stdout


def test_adding_generator_and_metric():
    from lstm_edge.tasks.adding import adding_sequences

    x, target = adding_sequences(500, 200, seed=3)
    assert x.shape == (500, 200, 2) and target.shape == (500,)
    marks = x[:, :, 1]
    assert (marks.sum(axis=1) == 2).all()
    assert (marks[:, :100].sum(axis=1) == 1).all() and (marks[:, 100:].sum(axis=1) == 1).all()
    assert np.allclose((x[:, :, 0] * marks).sum(axis=1), target, atol=1e-6)
    # always answering 1.0 scores Var(U + U) = 1/6
    assert abs(np.mean((1.0 - target) ** 2) - 1 / 6) < 0.02


def test_task_metrics_can_fail_and_point_the_right_way():
    from lstm_edge.runtime.budget import worsening
    from lstm_edge.tasks import task_for

    adding = task_for(short_spec("adding", **SHORT["adding"]))
    truth = np.array([0.5, 1.0, 1.5])
    good = adding.score(truth[:, None, None].repeat(4, axis=1).astype(np.float32), {"truth": truth})
    constant = adding.score(np.ones((3, 4, 1), np.float32), {"truth": truth})
    assert good["value"] == 0 and good["beats_baseline"] and not constant["beats_baseline"]
    gesture = task_for(short_spec("gesture", **SHORT["gesture"]))
    labels = np.array([0, 1, 2, 2])
    right = np.eye(6, dtype=np.float32)[labels][:, None]            # (4, 1, 6): logits peak at the truth
    assert gesture.score(right, {"truth": labels})["value"] == 1.0
    assert gesture.score(-right, {"truth": labels})["value"] == 0.0
    assert worsening(0.9, 1.0, lower_is_better=False) == pytest.approx(0.1)    # accuracy fell by 10 %
    assert worsening(1.1, 1.0, lower_is_better=True) == pytest.approx(0.1)     # an error rose by 10 %


def test_charlm_bits_per_char_match_the_device_formula():
    from lstm_edge.runtime.harness.verify import METRICS
    from lstm_edge.tasks import task_for

    spec = short_spec("charlm", **SHORT["charlm"])
    task = task_for(spec)
    data = task.load()
    task.meta = {"task": data.extra}
    rng = np.random.default_rng(0)
    V = len(data.extra["vocabulary"])
    y = rng.standard_normal((5, 32, V)).astype(np.float32)
    truth = data.test.y[:5]
    host = task.score(y, {"truth": truth})
    assert host["value"] == pytest.approx(METRICS["bits_per_char"](y, truth), rel=1e-12)
    assert data.test.x[0, 1:, 0].tolist() == data.test.y[0, :-1].tolist()    # y is x shifted by one character


def test_sampling_through_an_artefact_is_seeded(tmp_path):
    """Greedy and seeded sampling through the ONNX artefact of a tiny character model."""
    from lstm_edge.runtime import open_runner
    from lstm_edge.runtime.harness.sample import sample_text
    from lstm_edge.errors import InvalidInputError

    import torch

    from lstm_edge.converters.to_onnx import to_onnx
    from lstm_edge.model.network import SequenceLSTM
    from lstm_edge.model.spec import Tolerance

    vocabulary = "Teh abcdfg.\n"
    torch.manual_seed(0)
    dims = {"input_size": 1, "hidden_size": 8, "num_layers": 1, "output_size": len(vocabulary), "residual": [],
            "vocab_size": len(vocabulary), "embedding_dim": 4}
    model = SequenceLSTM(**dims).eval()
    to_onnx(model, dims, tmp_path / "charlm.onnx", Tolerance("pytorch", "onnx-fp32", 1e-5, 1e-5))
    runner = open_runner(tmp_path / "charlm.onnx")
    a = sample_text(runner, vocabulary, "The ", length=40, temperature=0.8, seed=1)
    b = sample_text(runner, vocabulary, "The ", length=40, temperature=0.8, seed=1)
    assert a == b and len(a) == 40 and set(a) <= set(vocabulary)
    assert sample_text(runner, vocabulary, "The ", length=20, temperature=0) == \
        sample_text(runner, vocabulary, "The ", length=20, temperature=0, seed=99)
    with pytest.raises(InvalidInputError, match="never saw"):
        sample_text(runner, vocabulary, "☃", length=5)
