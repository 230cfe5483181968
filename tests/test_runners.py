"""The Runner contract (lstm_edge/runtime/contract.py), one suite run against every runner:
onnxruntime (fp32, int8, ORT format), LiteRT (fused sequence kernel), a step artefact stepped
through whole sequences, an artefact isolated in a child process, PyTorch and the NumPy reference,
and artefacts of a user's module (lstm_edge.export) that keep its own x: time-major (T, B, F) and
int64 token ids (B, T), as their sidecars say (ONNX fast; TFLite, converted by TensorFlow, slow).
Each is a pure function with checked inputs that says what it returns and what it cannot."""
import json
import shutil

import numpy as np
import pytest

from lstm_edge.errors import InvalidInputError
from lstm_edge.runtime import open_runner, open_sequence_runner
from lstm_edge.runtime.contract import XSpec
from lstm_edge.runtime.feeds import random_inputs

L, H, F = 2, 8, 4
RUNNERS = ["onnxruntime", "onnxruntime-int8", "ort-format", "litert", "litert-step", "litert-seq", "child", "pytorch",
           "numpy"]
FP32 = {"onnxruntime", "ort-format", "litert", "litert-step", "litert-seq", "child", "numpy"}   # agree with PyTorch to 1e-5
BYO = {"byo-time-major": "onnx", "byo-embedding": "onnx", "byo-time-major-tflite": "tflite", "byo-embedding-tflite": "tflite"}
V, O = 7, 3                                                                        # the BYO modules' vocabulary, outputs
X_SPECS = {"time-major": ("TBF", "float32", None, 1), "embedding": ("BT", "int64", V, 0)}   # as their sidecars say
BYO_PARAMS = [pytest.param(k, marks=pytest.mark.slow) if fmt == "tflite" else k for k, fmt in BYO.items()]   # TensorFlow: slow


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
            "litert": "tflite-fp32.tflite", "litert-step": "tflite-step-fp32.tflite",
            "litert-seq": "tflite-seq-fp32.tflite"}[kind]
    return open_sequence_runner(out / file)


@pytest.fixture(scope="module")
def runners(tiny_run, tmp_path_factory):
    out, _ = tiny_run
    tmp = tmp_path_factory.mktemp("runners")
    return {k: make_runner(k, out, tmp) for k in RUNNERS}


class Byo:
    """A user's module, a Linear on every step: "time-major" x (T, B, F), "embedding" (nn.Embedding) x int64
    ids (B, T); exported once per format (lstm_edge.export), opened with open_runner."""

    def __init__(self, tmp):
        self.tmp, self.done = tmp, {}

    def module(self, kind: str):
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.inp = nn.Embedding(V, 5) if kind == "embedding" else None
                self.rnn = nn.LSTM(5 if self.inp else F, H, num_layers=L, batch_first=kind == "embedding")
                self.fc = nn.Linear(H, O)

            def forward(self, x):
                out, _ = self.rnn(self.inp(x) if self.inp else x)
                return self.fc(out)

        torch.manual_seed(0)
        ex = np.random.default_rng(0).integers(0, V, (2, 6)) if kind == "embedding" else np.zeros((6, 2, F), np.float32)
        return Net().eval(), ex

    def runner(self, name: str):
        import lstm_edge

        fmt = BYO[name]
        if name not in self.done:
            net, ex = self.module(byo_kind(name))
            lstm_edge.export(net, ex, self.tmp / name, formats=(fmt,))
            self.done[name] = open_runner(self.tmp / name / f"model.{fmt}"), net, ex
        return self.done[name]


@pytest.fixture(scope="module")
def byo(tmp_path_factory):
    return Byo(tmp_path_factory.mktemp("byo"))


def byo_kind(name: str) -> str:
    return name.removeprefix("byo-").removesuffix("-tflite")


@pytest.fixture(params=[pytest.param(k, marks=pytest.mark.slow) for k in RUNNERS] + BYO_PARAMS)
def runner(request):
    """The trained tiny model's runners need `tiny_run` (slow): asked for only for those."""
    if request.param in BYO:
        return request.getfixturevalue("byo").runner(request.param)[0]
    return request.getfixturevalue("runners")[request.param]


@pytest.fixture(params=[pytest.param(k, marks=pytest.mark.slow) for k in RUNNERS])
def own_runner(request, runners):
    """lstm-edge's own contract only: x (B, T, F) float32."""
    return runners[request.param]


def feeds(b=2, t=5, seed=0, runner=None):
    """Inputs for `runner` in its own x layout and dtype (XSpec; lstm-edge's own: (B, T, F) float32)."""
    spec = getattr(runner, "x_spec", XSpec())
    shape = tuple({"B": b, "T": t, "F": F}[a] for a in spec.layout)
    return random_inputs(np.random.default_rng(seed), shape, {"h0": (L, b, H), "c0": (L, b, H)}, vocab=spec.vocab,
                         ids_dtype=np.int64)


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
    spec = getattr(runner, "x_spec", XSpec())
    assert runner.expected["h0"][0] == L and runner.expected["c0"][2] == H and len(runner.expected["x"]) == len(spec.layout)
    assert "F" not in spec.layout or runner.expected["x"][spec.layout.index("F")] == F
    f = feeds(runner=runner)
    out = runner.run(f)
    assert set(out) == set(runner.output_names)
    assert out["y"].shape[:2] == f["x"].shape[:2] and out["hn"].shape == (L, 2, H)   # y per step, in x's order


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
    a = as_f64(runner.run(feeds(seed=1, runner=runner)))
    runner.run(feeds(b=7, t=40, seed=2, runner=runner))
    b = as_f64(runner.run(feeds(seed=1, runner=runner)))
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_batch_rows_are_independent(runner):
    """Row 0 of a batch of 3 equals the same sequence run alone: streams never mix."""
    spec = getattr(runner, "x_spec", XSpec())
    f = feeds(b=3, t=20, seed=4, runner=runner)
    alone = runner.run({k: np.take(v, [0], axis=spec.batch_axis if k == "x" else 1) for k, v in f.items()})
    together = runner.run(f)
    np.testing.assert_allclose(np.take(together["y"], [0], axis=spec.y_batch_axis), alone["y"], atol=1e-6)
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
def test_bad_inputs_are_named_before_the_runtime_sees_them(own_runner, kind):
    with pytest.raises(InvalidInputError) as e:
        own_runner.run(mutated(kind))
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


# --- a user's module's own x (sidecar "x_layout", "x_dtype", "vocab_size", "y_batch_axis") -----------

@pytest.mark.parametrize("name", BYO_PARAMS)
def test_byo_runners_agree_with_pytorch(byo, name):
    """x in the module's own layout and dtype; the fused TFLite kernel (batch 1) run one row per call."""
    import torch

    from lstm_edge.byo.inspect import inspect
    from lstm_edge.byo.wrap import Stateful
    from lstm_edge.runtime.budget import elements_within

    runner, net, ex = byo.runner(name)
    assert runner.x_spec == X_SPECS[byo_kind(name)]
    assert runner.info.get("batch_resizable", True) == (BYO[name] == "onnx")
    f = feeds(b=3, t=40, seed=5, runner=runner)
    wrapper = Stateful(net, inspect(net, torch.as_tensor(ex))).eval()
    with torch.no_grad():
        want = dict(zip(("y", "hn", "cn"), (v.numpy() for v in wrapper(*(torch.from_numpy(f[k]) for k in ("x", "h0", "c0"))))))
    got = runner.run(f)
    for k in runner.output_names:
        assert elements_within(got[k], want[k], 1e-5, 1e-5), (name, k, np.abs(got[k] - want[k]).max())


BYO_BAD = {   # x as lstm-edge's own contract has it, or ids outside the vocabulary → what is named
    "time-major": [(lambda x: np.ascontiguousarray(x.transpose(1, 0, 2)),
                    "state 'h0' has batch 3 (dimension 1) but 'x' has batch 4 (dimension 1 of x (T, B, F))"),
                   (lambda x: x.astype(np.int64), "input 'x' has dtype int64, expected float32")],
    "embedding": [(lambda x: x.astype(np.float32), "input 'x' has dtype float32, expected int64 token ids (x (B, T) int64"),
                  (lambda x: x[..., None], "input 'x' has rank 3 (shape (3, 4, 1)), expected rank 2 (?, ?) = (B, T)"),
                  (lambda x: np.where(np.arange(4) == 2, V, x), f"token id {V} at index (0, 2), outside the vocabulary 0 … {V - 1}"),
                  (lambda x: np.where(np.arange(4) == 1, -1, x), "token id -1 at index (0, 1), outside the vocabulary")],
}


@pytest.mark.parametrize("name", BYO_PARAMS)
def test_byo_x_given_another_way_is_named(byo, name):
    runner = byo.runner(name)[0]
    good = feeds(b=3, t=4, runner=runner)
    for mistake, message in BYO_BAD[byo_kind(name)]:
        with pytest.raises(InvalidInputError) as e:
            runner.run(good | {"x": mistake(good["x"])})
        assert e.value.exit_code == 3 and message in str(e.value), str(e.value)


@pytest.mark.parametrize("name, sidecar, message", [
    ("byo-embedding", None, "the graph takes x as int64 but with no 'x_dtype' (no sidecar beside it) lstm-edge's own"),
    ("byo-time-major", None, "the graph names x's axes (time, batch, 4) but with no 'x_layout' (no sidecar beside it)"),
    ("byo-time-major", {"x_layout": "TB"}, "the graph declares x (?, ?, 4) but its sidecar says x is (T, B)"),
    ("byo-time-major", {"x_layout": "BFT"}, "'x_layout' is 'BFT', expected one of BTF, TBF, BT, TB"),
    ("byo-time-major", {"x_dtype": "int64"}, "the graph takes x as float32 but its sidecar says int64"),
    ("byo-time-major", {"vocab_size": 5}, "'vocab_size' is 5, expected a positive integer, with \"x_dtype\": \"int64\""),
    ("byo-embedding", {"vocab_size": 0}, "'vocab_size' is 0, expected a positive integer"),
    ("byo-embedding", {"y_batch_axis": "0"}, "'y_batch_axis' is '0', expected a non-negative integer")])
def test_a_sidecar_that_is_not_the_graphs_is_refused_at_open(byo, tmp_path, name, sidecar, message):
    """A BYO artefact without its sidecar would be read as (B, T, F) float32: refused, as is a sidecar that disagrees."""
    src = byo.runner(name)[0].info
    shutil.copy(byo.tmp / name / "model.onnx", tmp_path / "model.onnx")
    if sidecar is not None:
        (tmp_path / "model.onnx.json").write_text(json.dumps(src | sidecar))
    with pytest.raises(InvalidInputError) as e:
        open_runner(tmp_path / "model.onnx")
    assert e.value.exit_code == 3 and message in str(e.value), str(e.value)

