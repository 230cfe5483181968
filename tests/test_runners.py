"""The Runner contract, one suite run against every runner: pure function, checked inputs."""
import numpy as np
import pytest

from lstm_edge.errors import InvalidInputError
from lstm_edge.runtime import open_runner

ARTIFACTS = ["onnx-fp32.onnx", "tflite-fp32.tflite"]
L, H, F = 2, 8, 4


@pytest.fixture(params=ARTIFACTS)
def runner(request, tiny_run):
    out, _ = tiny_run
    return open_runner(out / request.param)


def feeds(b=2, t=5, seed=0):
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((b, t, F)).astype(np.float32),
            "h0": rng.uniform(-1, 1, (L, b, H)).astype(np.float32),
            "c0": rng.standard_normal((L, b, H)).astype(np.float32)}


def test_names_are_the_contract(runner):
    assert runner.input_names == ("x", "h0", "c0")
    assert runner.output_names[:2] == ("y", "hn")


def test_pure_function_no_state_between_calls(runner):
    """Same inputs, same outputs, whatever ran in between (LiteRT keeps no variable tensors)."""
    a = runner.run(feeds(seed=1))
    runner.run(feeds(b=7, t=40, seed=2))
    b = runner.run(feeds(seed=1))
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
