"""Streaming: state carried across calls equals the whole sequence, streams never leak, memory stays flat."""
import json
import tracemalloc

import numpy as np
import pytest
from typer.testing import CliRunner

from lstm_edge.cli import app
from lstm_edge.errors import InvalidInputError
from lstm_edge.errors import UsageError
from lstm_edge.runtime import Stream, open_runner

# Marked slow test by test (the fast test at the end is not): every other test streams through the
# artefacts of the trained tiny run.

L, H, F = 2, 8, 4
STREAMING = ["onnx-fp32.onnx", "tflite-step-fp32.tflite"]


def long_input(b=2, t=10_000, seed=0):
    return np.random.default_rng(seed).standard_normal((b, t, F)).astype(np.float32)


def whole(out, artifact, x):
    """The whole-sequence run in the same runtime: ONNX itself; for the step artefact, the fused TFLite one."""
    name = "tflite-fp32.tflite" if "step" in artifact else artifact
    zero = np.zeros((L, x.shape[0], H), np.float32)
    return open_runner(out / name).run({"x": x, "h0": zero, "c0": zero})


@pytest.mark.slow
@pytest.mark.parametrize("artifact", STREAMING)
def test_stepping_and_chunks_of_7_equal_the_whole_sequence_over_10000_steps(tiny_run, artifact):
    out, _ = tiny_run
    x = long_input()
    full = whole(out, artifact, x)
    one = Stream(open_runner(out / artifact), batch=2)
    y_one = np.stack([one.step(x[:, t]) for t in range(x.shape[1])], axis=1)
    seven = Stream(open_runner(out / artifact), batch=2)
    y_seven = np.concatenate([seven.step(x[:, t:t + 7]) for t in range(0, x.shape[1], 7)], axis=1)
    for y in (y_one, y_seven):
        np.testing.assert_allclose(y, full["y"], atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(one.state[0], full["hn"], atol=1e-5, rtol=1e-5)
    assert one.steps == seven.steps == 10_000


@pytest.mark.slow
def test_the_step_artefact_carries_the_cell_state_the_fused_one_cannot(tiny_run):
    from lstm_edge.train.checkpoint import load_checkpoint
    from lstm_edge.model.network import TorchRunner, load_model

    out, _ = tiny_run
    x = long_input(b=1, t=2000, seed=3)
    tensors, meta = load_checkpoint(out)
    zero = np.zeros((L, 1, H), np.float32)
    want = TorchRunner(load_model(tensors, meta["dims"])).run({"x": x, "h0": zero, "c0": zero})
    s = Stream(open_runner(out / "tflite-step-fp32.tflite"))
    s.step(x)
    np.testing.assert_allclose(s.state[1], want["cn"], atol=1e-5, rtol=1e-5)
    with pytest.raises(InvalidInputError, match="does not return the cell state"):
        Stream(open_runner(out / "tflite-fp32.tflite"))


@pytest.mark.slow
@pytest.mark.parametrize("artifact", STREAMING)
def test_reset_and_independent_streams(tiny_run, artifact):
    out, _ = tiny_run
    x = long_input(b=1, t=60, seed=5)
    a, b = Stream(open_runner(out / artifact)), Stream(open_runner(out / artifact))
    ya = a.step(x[:, :30])
    b.step(np.zeros((1, 45, F), np.float32) + 3.0)      # another stream, other data, in between
    ya2 = a.step(x[:, 30:])                              # must not see b's state
    solo = Stream(open_runner(out / artifact))
    np.testing.assert_allclose(np.concatenate([ya, ya2], axis=1), solo.step(x), atol=1e-6)
    a.reset()
    np.testing.assert_allclose(a.step(x[:, :30]), ya, atol=1e-6)   # reset = a fresh stream
    assert a.steps == 30


@pytest.mark.slow
def test_batch_rows_are_separate_streams(tiny_run):
    out, _ = tiny_run
    x = long_input(b=2, t=100, seed=6)
    both = Stream(open_runner(out / "onnx-fp32.onnx"), batch=2).step(x)
    for row in range(2):
        alone = Stream(open_runner(out / "onnx-fp32.onnx")).step(x[row:row + 1])
        np.testing.assert_allclose(both[row:row + 1], alone, atol=1e-6)


@pytest.mark.slow
def test_verify_reports_streaming_to_10000_steps(tiny_run):
    out, report = tiny_run
    by_stage = {r.stage: r for r in report.streaming}
    assert {"onnx-fp32", "tflite-step-fp32"} <= set(by_stage)
    for name in ("onnx-fp32", "tflite-step-fp32"):
        r = by_stage[name]
        assert [d["horizon"] for d in r.drift] == [1, 100, 1000, 10000]
        assert r.passed and r.equivalent, r.to_dict()
    data = json.loads((out / "report.json").read_text())
    assert data["streaming"] and (out / "drift.png").exists() and "## Streaming" in (out / "report.md").read_text()


def write_csv(path, rows, seed=0):
    from lstm_edge.data.sensor import generate_sensor_series

    s = generate_sensor_series(days=rows // 24 + 1, seed=seed)
    with open(path, "w") as f:
        f.write(",".join(s.columns) + "\n")
        for v in s.values[:rows]:
            f.write(",".join(f"{x:.4f}" for x in v) + "\n")


@pytest.mark.slow
def test_stream_command_on_a_csv(tiny_run, tmp_path):
    out, _ = tiny_run
    write_csv(tmp_path / "live.csv", 300)
    r = CliRunner().invoke(app, ["stream", str(out), "--input", str(tmp_path / "live.csv"), "--every", "100"])
    assert r.exit_code == 0, r.output
    assert "300 steps streamed through onnx-fp32.onnx" in r.output and "temperature→" in r.output
    r = CliRunner().invoke(app, ["stream", str(out), "--input", str(tmp_path / "live.csv"),
                                 "--artifact", "tflite-fp32.tflite"])
    assert r.exit_code == 3 and "does not return the cell state" in r.output
    (tmp_path / "bad.csv").write_text("temperature,humidity\n1,2\n")
    r = CliRunner().invoke(app, ["stream", str(out), "--input", str(tmp_path / "bad.csv")])
    assert r.exit_code == 3 and "'load'" in r.output


@pytest.mark.slow
def test_stream_memory_stays_flat(tiny_run, tmp_path):
    """Peak Python memory of a session does not grow with the input's length (rows are never kept)."""
    from lstm_edge.stream.session import stream_session

    out, _ = tiny_run
    peaks = []
    for rows in (2_000, 20_000):
        write_csv(tmp_path / f"{rows}.csv", rows)
        tracemalloc.start()
        n = sum(1 for _ in stream_session(out, tmp_path / f"{rows}.csv"))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert n == rows
    assert peaks[1] < peaks[0] + 1_000_000, peaks


@pytest.mark.slow
@pytest.mark.parametrize("artifact,atol", [("onnx-fp32.onnx", 0.0), ("tflite-step-fp32.tflite", 1e-5),
                                           ("tflite-step-fp16.tflite", 1e-5), ("onnx-int8-dynamic.onnx", 0.0)])
@pytest.mark.parametrize("batch", [1, 3])
def test_stepper_equals_the_stream(tiny_run, artifact, atol, batch):
    """The tuned streaming path (fixed batch, XNNPACK, I/O binding) computes what a Stream computes."""
    from lstm_edge.runtime.fast_step import open_stepper

    out, _ = tiny_run
    if not (out / artifact).exists():
        pytest.skip(f"{artifact} was refused for the tiny model")
    if batch > 1 and not json.loads((out / f"{artifact}.json").read_text()).get("batch_resizable", True):
        with pytest.raises(InvalidInputError, match="rows of a batch mix"):   # dynamic int8: one stream per call
            open_stepper(out / artifact, batch=batch)
        return
    xs = np.random.default_rng(batch).standard_normal((500, batch, 4)).astype(np.float32)
    stream, stepper = Stream(open_runner(out / artifact), batch=batch), open_stepper(out / artifact, batch=batch)
    for k, x in enumerate(xs):
        np.testing.assert_allclose(stepper.step(x), stream.step(x), atol=atol, rtol=atol, err_msg=f"step {k}")
    for got, want in zip(stepper.state, stream.state):
        np.testing.assert_allclose(got, want, atol=max(atol, 1e-6))
    stepper.reset()
    stream.reset()
    np.testing.assert_allclose(stepper.step(xs[0]), stream.step(xs[0]), atol=atol)
    with pytest.raises(InvalidInputError, match="float32"):
        stepper.step(xs[0].astype(np.float64))


@pytest.mark.slow
def test_stepper_refuses_an_artefact_without_the_cell_state(tiny_run):
    from lstm_edge.runtime.fast_step import open_stepper

    out, _ = tiny_run
    with pytest.raises(InvalidInputError, match="cell state"):
        open_stepper(out / "tflite-fp32.tflite")


# ---------------------------------------------------------------------------------------------
# lstm_edge.stream: a live session over the exported ONNX artefact

def test_stream_session_forecasts_each_row_of_a_csv(untrained, exported, tmp_path):
    from lstm_edge.data.sensor import generate_sensor_series
    from lstm_edge.stream.session import stream_session

    out, _, _ = exported
    _, _, meta = untrained
    series = generate_sensor_series(days=2, seed=5)
    cols = [series.columns.index(c) for c in meta["features"]]
    rows = series.values[:30, cols]
    csv = tmp_path / "live.csv"
    csv.write_text(",".join(meta["features"]) + "\n" + "\n".join(",".join(f"{v:.4f}" for v in r) for r in rows) + "\n")
    steps = list(stream_session(out, csv))
    assert [s.t for s in steps] == list(range(30))
    assert all(set(s.forecast) == set(meta["targets"]) and np.isfinite(list(s.forecast.values())).all() for s in steps)
    spike = rows.copy()
    spike[20, meta["features"].index(meta["targets"][0])] += 1e4          # far outside any forecast
    csv.write_text(",".join(meta["features"]) + "\n" + "\n".join(",".join(f"{v:.4f}" for v in r) for r in spike) + "\n")
    flagged = [s.t for s in stream_session(out, csv) if s.anomalies]
    assert 20 in flagged
    with pytest.raises(UsageError, match="does not exist"):
        list(stream_session(out, csv, artifact="tflite-step-fp32.tflite"))
    with pytest.raises(InvalidInputError, match="no model.json"):
        list(stream_session(tmp_path, csv))
