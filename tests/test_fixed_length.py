"""An artefact unrolled at a fixed T answers for that T only (issue 22, point 1).

The BYO general TFLite path (GRU, bidirectional, proj_size) unrolls the recurrence at the
example's T and says so in its sidecar ("fixed_time_steps"). Every runner of ours holds that T:
`expected` x has it fixed, another T is refused (exit 3) naming the artefact and the T it takes,
and open_sequence_runner / Stream never step such an artefact as if it were a step artefact.
The artefact refuses too: its UNPACK makes LiteRT's own signature runner fail at prepare, where
before it resized the input and answered for the wrong T without a word.

Fast: the contract on a tiny ONNX counter with a hand-written sidecar (the runner logic is the
same for every runtime). Slow: a GRU exported through the BYO path (TensorFlow converts it).
A device bundle cannot be built from a BYO export today (`lstm-edge bundle` needs a training
checkpoint), so the harness is tested through `run_bundle` on a hand-made Bundle, and through
the runner-opening call every harness command makes (open_runner / open_sequence_runner).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from lstm_edge.errors import InvalidInputError
from units import feeds, tiny_onnx


def unrolled_counter(tmp_path, steps=5, name="counter.onnx", **sidecar):
    path = tiny_onnx(tmp_path / name)
    (tmp_path / f"{name}.json").write_text(json.dumps({"fixed_time_steps": steps} | sidecar))
    return path


def step_counter(tmp_path, name="step.onnx"):
    """The counter with x declared (B, 1, F), as a step artefact declares it."""
    import onnx

    path = tiny_onnx(tmp_path / name)
    model = onnx.load(str(path))
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 1
    onnx.save(model, str(path))
    return path


def refused(run, f) -> str:
    with pytest.raises(InvalidInputError) as e:
        run(f)
    assert e.value.exit_code == 3
    return str(e.value)


def test_an_unrolled_artifact_takes_its_T_and_no_other(tmp_path):
    from lstm_edge.runtime import Stream, open_runner, open_sequence_runner

    path = unrolled_counter(tmp_path)
    for runner in (open_runner(path), open_sequence_runner(path)):
        assert type(runner).__name__ == "OnnxRuntimeRunner"     # never wrapped and chunked as a step artefact
        assert runner.expected["x"] == (None, 5, 3) and runner.unrolled.steps == 5
        assert np.array_equal(runner.run(feeds(T=5))["y"], feeds(T=5)["x"][:, :, :2])
        for T in (7, 1):
            message = refused(runner.run, feeds(T=T))
            assert f"{path}: takes exactly T = 5 time steps" in message and f"got x with T = {T}" in message
            assert f"export again with T = {T} in --example-shape" in message
    s = Stream(open_runner(path), batch=2)                         # a chunk is fed whole, not stepped
    assert s.chunk is None and s.step(feeds(T=5)["x"]).shape == (2, 5, 2)
    assert "takes exactly T = 5" in refused(s.step, feeds(T=7)["x"])


def test_the_T_is_named_before_any_other_mismatch(tmp_path):
    """A GRU artefact has no c0: a caller feeding one gets the T refused first, the answer-changing mistake."""
    from lstm_edge.runtime import open_runner

    runner = open_runner(unrolled_counter(tmp_path))
    message = refused(runner.run, {"x": feeds(T=9)["x"]})
    assert "takes exactly T = 5" in message and "missing" not in message


def test_a_step_artifact_is_stepped_but_an_unrolled_T_of_1_is_not(tmp_path):
    from lstm_edge.runtime import open_sequence_runner
    from lstm_edge.runtime.stream import SequenceRunner

    step = open_sequence_runner(step_counter(tmp_path))
    assert isinstance(step, SequenceRunner)                     # the step artefact: any T, one step per call
    assert (step.run(feeds(T=7))["hn"] == 7).all()
    one = tmp_path / "one"
    one.mkdir()
    path = step_counter(one)
    (one / "step.onnx.json").write_text(json.dumps({"fixed_time_steps": 1}))
    runner = open_sequence_runner(path)                         # unrolled at T = 1: takes 1, is not stepped
    assert not isinstance(runner, SequenceRunner) and (runner.run(feeds(T=1))["hn"] == 1).all()
    assert "takes exactly T = 1 time steps" in refused(runner.run, feeds(T=7))
    with pytest.raises(InvalidInputError, match="is not a step artefact"):
        SequenceRunner(runner)


@pytest.mark.parametrize("value, message", [(4, "its sidecar says it takes T = 4 but the graph declares x (?, 1, 3)"),
                                            ("20", "'fixed_time_steps' is '20'"), (0, "'fixed_time_steps' is 0"),
                                            (True, "'fixed_time_steps' is True")])
def test_a_sidecar_that_disagrees_or_is_malformed_is_refused_at_open(tmp_path, value, message):
    from lstm_edge.runtime import open_runner

    path = step_counter(tmp_path)
    (tmp_path / "step.onnx.json").write_text(json.dumps({"fixed_time_steps": value}))
    assert message in refused(open_runner, path)


def test_an_isolated_unrolled_artifact_is_refused_before_a_child_runs(tmp_path, monkeypatch):
    import lstm_edge.runtime.child as child
    from lstm_edge.runtime import open_runner, open_sequence_runner

    path = unrolled_counter(tmp_path, isolate=True)
    runner = open_sequence_runner(path)
    assert isinstance(runner, child.ChildRunner) and runner.expected["x"] == (None, 5, 3)
    assert (runner.run(feeds(T=5))["hn"] == 1).all()            # the right T runs, in a child
    monkeypatch.setattr(child, "run_child", lambda *a, **k: pytest.fail("a child was started for a refused T"))
    assert f"{path}: takes exactly T = 5" in refused(runner.run, feeds(T=7))
    stepped = tmp_path / "stepped"                               # an isolated step artefact still takes any T
    stepped.mkdir()
    (stepped / "step.onnx.json").write_text(json.dumps({"isolate": True}))
    assert open_runner(step_counter(stepped)).expected["x"] == (None, None, 3)


def test_the_device_harness_refuses_another_T(tmp_path):
    """`python -m lstm_edge.runtime run BUNDLE --input x.npz` is run_bundle on an opened bundle."""
    from lstm_edge.runtime.harness.bundle_files import Bundle
    from lstm_edge.runtime.harness.run import run_bundle

    unrolled_counter(tmp_path)
    manifest = {"model": {"num_layers": 2, "hidden_size": 4},
                "artifacts": [{"file": "counter.onnx", "stage": "byo-onnx", "runtime": "onnxruntime",
                               "outputs": ["y", "hn", "cn"]}]}
    bundle = Bundle(tmp_path, manifest, {})
    for T in (5, 7):
        np.savez(tmp_path / f"x{T}.npz", x=feeds(T=T)["x"])
    assert "x (2, 5, 3) → y (2, 5, 2)" in run_bundle(bundle, tmp_path / "x5.npz")
    message = refused(lambda f: run_bundle(bundle, f), tmp_path / "x7.npz")
    assert "counter.onnx: takes exactly T = 5" in message and "got x with T = 7" in message
    assert not (tmp_path / "x7.out.npz").exists()


def test_a_time_major_artifact_is_held_to_its_T_on_its_time_axis(tmp_path):
    """x (T, B, F) as the sidecar's "x_layout" says: T pinned on axis 0, the batch read on axis 1,
    by open_runner and by the harness (zero states sized from x's batch axis)."""
    from lstm_edge.runtime import open_runner
    from lstm_edge.runtime.harness.bundle_files import Bundle
    from lstm_edge.runtime.harness.run import run_bundle

    path = unrolled_counter(tmp_path, x_layout="TBF", y_batch_axis=1)
    runner = open_runner(path)
    assert runner.expected["x"] == (5, None, 3) and runner.x_spec.time_axis == 0
    time_major = {k: v.transpose(1, 0, 2) if k == "x" else v for k, v in feeds(B=2, T=5).items()}
    assert runner.run(time_major)["y"].shape == (5, 2, 2)
    assert "got x with T = 2" in refused(runner.run, feeds(B=2, T=5))        # given (B, T, F), read as (T, B, F)
    assert "got x with T = 7" in refused(runner.run, {k: v.transpose(1, 0, 2) if k == "x" else v
                                                      for k, v in feeds(B=2, T=7).items()})
    bundle = Bundle(tmp_path, {"model": {"num_layers": 2, "hidden_size": 4}, "artifacts": [
        {"file": "counter.onnx", "stage": "byo-onnx", "runtime": "onnxruntime", "outputs": ["y", "hn", "cn"]}]}, {})
    np.savez(tmp_path / "x.npz", x=np.zeros((5, 7, 3), np.float32))
    assert "x (5, 7, 3) → y (5, 7, 2), hn (2, 7, 4)" in run_bundle(bundle, tmp_path / "x.npz")


# ---------------------------------------------------------------------------------------------
# The real thing: a GRU with a last-step head through `lstm_edge.export` (BYO), TFLite by TensorFlow

@pytest.fixture(scope="module")
def gru(tmp_path_factory):
    import torch

    import lstm_edge
    from test_byo import Net

    torch.manual_seed(0)
    net = Net(kind="GRU", head="last").eval()
    out = tmp_path_factory.mktemp("gru")
    report = lstm_edge.export(net, np.random.default_rng(0).standard_normal((2, 20, 3)).astype(np.float32), out)
    tflite = next(a for a in report["artifacts"] if a["format"] == "tflite")
    assert tflite["path_taken"] == "general" and tflite["fixed_time_steps"] == 20
    return net, out


def torch_y(net, x):
    import torch

    with torch.no_grad():
        return net(torch.from_numpy(x)).numpy()


def gru_feeds(T, B=3, seed=0):
    return {"x": np.random.default_rng(seed).standard_normal((B, T, 3)).astype(np.float32),
            "h0": np.zeros((2, B, 6), np.float32)}


@pytest.mark.slow   # converts with TensorFlow
def test_our_runners_hold_the_gru_to_its_T(gru):
    from lstm_edge.runtime import open_runner, open_sequence_runner

    net, out = gru
    path = out / "model.tflite"
    for runner in (open_runner(path), open_sequence_runner(path)):
        assert type(runner).__name__ == "LiteRTRunner" and runner.expected["x"] == (None, 20, 3)
        f = gru_feeds(20)
        assert np.abs(runner.run(f)["y"] - torch_y(net, f["x"])).max() <= 1e-5
        for T in (33, 10, 1):
            message = refused(runner.run, gru_feeds(T))
            assert f"{path}: takes exactly T = 20 time steps" in message and f"got x with T = {T}" in message
            assert "or use model.onnx beside it, which takes any T" in message
    onnx = open_runner(out / "model.onnx")                       # what the message points to does take any T
    f = gru_feeds(33)
    assert onnx.expected["x"] == (None, None, 3) and np.abs(onnx.run(f)["y"] - torch_y(net, f["x"])).max() <= 1e-5


@pytest.mark.slow   # converts with TensorFlow
def test_litert_itself_refuses_another_T(gru):
    """Measured: LiteRT's signature runner resizes the static T (strict=False) and invokes; the UNPACK
    that splits the steps then fails at prepare. Before it, T = 33 gave y off by 0.076 with no error."""
    from ai_edge_litert.interpreter import Interpreter

    _, out = gru
    signature = Interpreter(model_path=str(out / "model.tflite")).get_signature_runner()
    assert signature.get_input_details()["x"]["shape_signature"].tolist() == [-1, 20, 3]   # T static, batch -1
    assert signature(**gru_feeds(20))["y"].shape == (3, 2)
    for T in (33, 1):
        with pytest.raises(RuntimeError, match=rf"data->num != input_shape->data\[axis\] \(20 != {T}\).*UNPACK"):
            Interpreter(model_path=str(out / "model.tflite")).get_signature_runner()(**gru_feeds(T))
