"""The Runner contract (lstm_edge/runtime/contract.py), one suite run against every runner:
onnxruntime (fp32, int8, ORT format), LiteRT (fused sequence kernel), a step artefact stepped
through whole sequences, an artefact isolated in a child process, PyTorch and the NumPy reference.
Each is a pure function with checked inputs that says what it returns and what it cannot."""
import json
import shutil

import numpy as np
import pytest

from lstm_edge.errors import InvalidInputError
from lstm_edge.runtime import open_runner, open_sequence_runner
from lstm_edge.runtime.feeds import random_inputs

L, H, F = 2, 8, 4
RUNNERS = ["onnxruntime", "onnxruntime-int8", "ort-format", "litert", "litert-step", "child", "pytorch", "numpy"]
FP32 = {"onnxruntime", "ort-format", "litert", "litert-step", "child", "numpy"}   # agree with PyTorch to 1e-5


def make_runner(kind: str, out, tmp):
    from lstm_edge.model.network import TorchRunner, load_model
    from lstm_edge.model.reference import ReferenceRunner
    from lstm_edge.train.checkpoint import load_checkpoint

    if kind in ("pytorch", "numpy"):
        tensors, meta = load_checkpoint(out)
        if kind == "pytorch":
            return TorchRunner(load_model(tensors, meta["dims"]))
        return ReferenceRunner.from_checkpoint(tensors, meta["dims"])
    if kind == "ort-format":
        from lstm_edge.converters.to_ort import to_ort

        return open_runner(to_ort(out / "onnx-fp32.onnx", tmp / "onnx-fp32.ort"))
    if kind == "child":   # a sidecar that says "isolate": every call runs in a fresh child process
        shutil.copy(out / "onnx-fp32.onnx", tmp / "isolated.onnx")
        info = json.loads((out / "onnx-fp32.onnx.json").read_text()) | {"isolate": True}
        (tmp / "isolated.onnx.json").write_text(json.dumps(info))
        return open_runner(tmp / "isolated.onnx")
    file = {"onnxruntime": "onnx-fp32.onnx", "onnxruntime-int8": "onnx-int8-dynamic.onnx",
            "litert": "tflite-fp32.tflite", "litert-step": "tflite-step-fp32.tflite"}[kind]
    return open_sequence_runner(out / file)


@pytest.fixture(scope="module")
def runners(tiny_run, tmp_path_factory):
    out, _ = tiny_run
    tmp = tmp_path_factory.mktemp("runners")
    return {k: make_runner(k, out, tmp) for k in RUNNERS}


@pytest.fixture(params=[pytest.param(k, marks=pytest.mark.slow) for k in RUNNERS])
def runner(request, runners):
    return runners[request.param]


def feeds(b=2, t=5, seed=0):
    return random_inputs(np.random.default_rng(seed), (b, t, F), {"h0": (L, b, H), "c0": (L, b, H)})


def as_f64(outputs: dict) -> dict:
    return {k: np.asarray(v, np.float64) for k, v in outputs.items()}


def test_says_what_it_takes_returns_and_cannot_return(runner):
    assert isinstance(runner.name, str) and runner.name
    assert runner.input_names == ("x", "h0", "c0")
    assert runner.output_names[:2] == ("y", "hn")
    # every contract output is either returned or declared missing with a reason, never both
    assert set(runner.output_names) | set(runner.missing) == {"y", "hn", "cn"}
    assert not set(runner.output_names) & set(runner.missing)
    assert all(isinstance(why, str) and why for why in runner.missing.values())
    assert isinstance(runner.info, dict)
    assert set(runner.expected) == {"x", "h0", "c0"}
    assert runner.expected["x"][2] == F and runner.expected["h0"][0] == L and runner.expected["c0"][2] == H
    out = runner.run(feeds())
    assert set(out) == set(runner.output_names)
    assert out["y"].shape[:2] == (2, 5) and out["hn"].shape == (L, 2, H)


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(FP32))
def test_fp32_runners_agree_with_pytorch(runners, kind):
    """What every output is compared to: PyTorch, within the fp32 budget, on what the runner returns."""
    from lstm_edge.runtime.budget import elements_within

    f = feeds(b=3, t=40, seed=5)
    want, got = as_f64(runners["pytorch"].run(f)), as_f64(runners[kind].run(f))
    for name in runners[kind].output_names:
        assert elements_within(got[name], want[name], 1e-5, 1e-5), (kind, name, np.abs(got[name] - want[name]).max())


def test_pure_function_no_state_between_calls(runner):
    """Same inputs, same outputs, whatever ran in between (LiteRT keeps no variable tensors)."""
    a = as_f64(runner.run(feeds(seed=1)))
    runner.run(feeds(b=7, t=40, seed=2))
    b = as_f64(runner.run(feeds(seed=1)))
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_batch_rows_are_independent(runner):
    """Row 0 of a batch of 3 equals the same sequence run alone: streams never mix."""
    f = feeds(b=3, t=20, seed=4)
    alone = runner.run({k: (v[:1] if k == "x" else v[:, :1]) for k, v in f.items()})
    together = runner.run(f)
    np.testing.assert_allclose(together["y"][:1], alone["y"], atol=1e-6)
    np.testing.assert_allclose(together["hn"][:, :1], alone["hn"], atol=1e-6)


def mutated(kind):
    f = feeds()
    if kind == "float64":
        f["x"] = f["x"].astype(np.float64)
    elif kind == "int":
        f["h0"] = f["h0"].astype(np.int32)
    elif kind == "rank":
        f["x"] = f["x"][0]
    elif kind == "features":
        f["x"] = np.zeros((2, 5, F + 1), np.float32)
    elif kind == "hidden":
        f["c0"] = np.zeros((L, 2, H + 1), np.float32)
    elif kind == "layers":
        f["h0"] = np.zeros((L + 1, 2, H), np.float32)
    elif kind == "state batch":
        f["h0"] = np.zeros((L, 3, H), np.float32)
    elif kind == "T=0":
        f["x"] = np.zeros((2, 0, F), np.float32)
    elif kind == "B=0":
        f = {"x": np.zeros((0, 5, F), np.float32), "h0": np.zeros((L, 0, H), np.float32),
             "c0": np.zeros((L, 0, H), np.float32)}
    elif kind == "nan":
        f["x"][1, 3, 2] = np.nan
    elif kind == "inf":
        f["c0"][0, 1, 5] = np.inf
    elif kind == "missing":
        del f["c0"]
    elif kind == "extra":
        f["mask"] = np.ones((2, 5), np.float32)
    return f


BAD = {"float64": "'x' has dtype float64", "int": "'h0' has dtype int32", "rank": "'x' has rank 2",
       "features": "'x' dimension 2 is 5, expected 4", "hidden": "'c0' dimension 2 is 9, expected 8",
       "layers": "'h0' dimension 0 is 3, expected 2", "state batch": "'h0' has batch 3",
       "T=0": "'x' is empty", "B=0": "'x' is empty", "nan": "'x' has a non-finite value nan at index (1, 3, 2)",
       "inf": "'c0' has a non-finite value inf at index (0, 1, 5)", "missing": "missing ['c0']",
       "extra": "unexpected ['mask']"}


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_inputs_are_named_before_the_runtime_sees_them(runner, kind):
    with pytest.raises(InvalidInputError) as e:
        runner.run(mutated(kind))
    assert e.value.exit_code == 3
    assert BAD[kind] in str(e.value), str(e.value)


def test_unknown_artifact_type(tmp_path):
    p = tmp_path / "model.pt"
    p.write_bytes(b"PK\x03\x04")
    with pytest.raises(InvalidInputError, match="no runner for '.pt'"):
        open_runner(p)


@pytest.mark.parametrize("name", ["bad.onnx", "bad.tflite"])
@pytest.mark.parametrize("content", [b"", b"\x00" * 8, b"garbage that is not a model"])
def test_garbage_model_files_are_exit_3(tmp_path, name, content):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(InvalidInputError) as e:
        open_runner(p)
    assert str(p) in str(e.value)
