"""lstm_edge.bundle, fast: choosing stages, golden vectors (building a whole bundle is in
test_bundle.py, slow)."""
from __future__ import annotations

import numpy as np
import pytest

from lstm_edge.errors import ParityError, UsageError


def test_bundle_takes_what_passed_and_never_a_failed_stage():
    from lstm_edge.bundle.build import choose_stages

    report = {"stages": [
        {"name": "pytorch", "artifact": "model.safetensors", "format": "pytorch", "passed": True},
        {"name": "numpy-reference", "artifact": None, "format": "numpy", "passed": True},
        {"name": "onnx-fp32", "artifact": "onnx-fp32.onnx", "format": "onnx", "passed": True},
        {"name": "tflite-fp32", "artifact": "tflite-fp32.tflite", "format": "tflite", "passed": True},
        {"name": "tflite-int8", "artifact": "tflite-int8.tflite", "format": "tflite", "passed": False}]}
    assert [s["name"] for s in choose_stages(report, None)] == ["onnx-fp32", "tflite-fp32"]
    assert [s["name"] for s in choose_stages(report, ["tflite-fp32.tflite"])] == ["tflite-fp32"]
    with pytest.raises(ParityError, match="never bundled"):
        choose_stages(report, ["tflite-int8"])
    with pytest.raises(UsageError, match="no artefact 'pytorch'"):
        choose_stages(report, ["pytorch"])
    for s in report["stages"]:
        s["passed"] = False
    with pytest.raises(ParityError, match="nothing to bundle"):
        choose_stages(report, None)


def test_golden_vectors_hold_both_cases_and_every_stage(untrained, tmp_path):
    from lstm_edge.bundle.golden import describe, golden_cases, host_outputs, write_golden
    from lstm_edge.model.network import TorchRunner, load_model
    from lstm_edge.model.spec import spec_from_dict
    from lstm_edge.runtime.sniff import read_npz
    from lstm_edge.tasks import task_for
    from lstm_edge.train.checkpoint import load_test_set

    src, tensors, meta = untrained
    spec = spec_from_dict(meta["spec"])
    test = load_test_set(src, meta)
    cases = golden_cases(spec, meta["dims"], test, task_for(spec, meta))
    n, T, F = test["x"].shape
    assert describe(cases)["windows"]["x"] == [n, T, F] and describe(cases)["windows"]["target"] == [n, 2]
    assert describe(cases)["state"]["x"] == [3, 40, F]            # the largest random case of at most 100 steps
    outputs = host_outputs(TorchRunner(load_model(tensors, meta["dims"])), cases)
    assert outputs["windows"]["y"].shape == (n, 1, 2) and outputs["state"]["cn"].shape == (2, 3, 8)
    write_golden(tmp_path / "golden.npz", meta["weights_sha256"], cases, {"pytorch": outputs})
    stored = read_npz(tmp_path / "golden.npz")
    assert str(stored["model_sha256"]) == meta["weights_sha256"]
    assert np.array_equal(stored["pytorch.state.hn"], outputs["state"]["hn"])
    assert np.array_equal(stored["windows.x"], test["x"])
