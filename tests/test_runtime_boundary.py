"""runtime/ ships to devices: numpy plus one runtime, never torch/tensorflow/onnx/typer/rich.

Below the boundary, runtime's own code on a tiny ONNX counter (units.py), fast: sniff, budget,
runner input checks, Stream, the device harness."""
import json
import pathlib
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from lstm_edge.errors import InvalidInputError, SecurityRefusal
from units import feeds, tiny_onnx

FORBIDDEN = ("torch", "tensorflow", "tf_keras", "onnx", "onnxscript", "typer", "rich", "safetensors", "matplotlib")

BLOCKER = textwrap.dedent(f"""
    import sys, importlib.abc
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {FORBIDDEN!r}:
                raise ImportError("forbidden on the device: " + name)
    sys.meta_path.insert(0, Block())
""")


def run_blocked(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKER + textwrap.dedent(code)], capture_output=True, text=True)


def test_runtime_imports_without_heavy_libraries():
    """Every module in runtime/, found by walking the folder, so a new one cannot slip past."""
    runtime = pathlib.Path(__file__).resolve().parents[1] / "runtime"
    modules = sorted(".".join(("lstm_edge", "runtime", *p.relative_to(runtime).with_suffix("").parts)).removesuffix(".__init__")
                     for p in runtime.rglob("*.py"))
    assert len(modules) > 20
    r = run_blocked("import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules) + "print('ok')")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_runners_run_artefacts_without_heavy_libraries(tiny_run):
    out, _ = tiny_run
    r = run_blocked(f"""
        import numpy as np
        from lstm_edge.runtime import open_runner
        for name in ("onnx-fp32.onnx", "tflite-fp32.tflite"):
            runner = open_runner({str(out)!r} + "/" + name)
            feeds = {{"x": np.zeros((2, 3, 4), np.float32), "h0": np.zeros((2, 2, 8), np.float32),
                     "c0": np.zeros((2, 2, 8), np.float32)}}
            print(name, runner.run(feeds)["y"].shape)
        from lstm_edge.runtime import Stream
        s = Stream(open_runner({str(out)!r} + "/tflite-step-fp32.tflite"))
        print("stream", s.step(np.zeros((1, 5, 4), np.float32)).shape)
    """)
    assert r.returncode == 0, r.stderr
    assert "onnx-fp32.onnx (2, 3, 2)" in r.stdout and "tflite-fp32.tflite (2, 3, 2)" in r.stdout
    assert "stream (1, 5, 2)" in r.stdout


def test_the_blocker_blocks():
    """The boundary test is only worth something if a forbidden import really fails."""
    r = run_blocked("import torch")
    assert r.returncode != 0 and "forbidden on the device" in r.stderr


# ---------------------------------------------------------------------------------------------
# lstm_edge.runtime: sniff, budget, runner input checks, Stream, the harness

def test_runner_checks_its_inputs_before_the_runtime_sees_them(tmp_path):
    from lstm_edge.runtime import open_runner

    runner = open_runner(tiny_onnx(tmp_path / "counter.onnx"))
    assert runner.input_names == ("x", "h0", "c0") and runner.output_names == ("y", "hn", "cn")
    assert runner.expected == {"x": (None, None, 3), "h0": (2, None, 4), "c0": (2, None, 4)}
    f = feeds()
    out = runner.run(f)
    assert np.array_equal(out["y"], f["x"][:, :, :2]) and (out["hn"] == 1).all() and (out["cn"] == 2).all()
    bad = {
        "float32": f | {"x": f["x"].astype(np.float64)},
        "rank 2": f | {"x": f["x"][:, 0]},
        "dimension 2 is 5, expected 3": f | {"x": np.zeros((2, 5, 5), np.float32)},
        "is empty": f | {"x": np.zeros((2, 0, 3), np.float32)},
        "non-finite value nan at index (1, 4, 2)":
            f | {"x": np.where(np.arange(30).reshape(2, 5, 3) == 29, np.nan, f["x"]).astype(np.float32)},
        "state 'h0' has batch 3": f | {"h0": np.zeros((2, 3, 4), np.float32)},
        "missing ['c0']": {k: v for k, v in f.items() if k != "c0"},
    }
    for message, wrong in bad.items():
        with pytest.raises(InvalidInputError, match=None) as e:
            runner.run(wrong)
        assert message in str(e.value) and e.value.exit_code == 3, (message, str(e.value))
    with pytest.raises(InvalidInputError, match="no runner for '.bin'"):
        open_runner(tmp_path / "model.bin")


def test_stream_carries_the_state_across_calls_and_chunks(tmp_path):
    from lstm_edge.runtime import Stream, open_runner

    s = Stream(open_runner(tiny_onnx(tmp_path / "counter.onnx")), batch=2)
    x = feeds()["x"]
    assert np.array_equal(s.step(x), x[:, :, :2])                     # whole chunk: one call
    assert np.array_equal(s.step(x[:, 0]), x[:, 0, :2])               # (B, F): one step, (B, O) back
    h, c = s.state
    assert s.steps == 6 and (h == 2).all() and (c == 4).all()         # two calls, the state carried through both
    h[:] = 99
    assert (s.h == 2).all()                                           # `state` is a copy
    s.reset()
    assert s.steps == 0 and not s.h.any() and not s.c.any()
    # an artefact that takes (x, h0) and returns (y, hn) — a GRU's shape — carries h alone
    gru = Stream(open_runner(tiny_onnx(tmp_path / "no-cn.onnx", with_cn=False)), batch=2)
    assert gru.c is None and list(gru.states) == ["h0"]
    gru.step(x)
    gru.step(x[:, 0])
    assert (gru.h == 2).all() and len(gru.state) == 1

    class TakesCButReturnsNone:     # an LSTM artefact that does not return its cell state (the fused TFLite kernel)
        name, input_names, output_names, info = "fused", ("x", "h0", "c0"), ("y", "hn"), {}
        expected = {"x": (None, None, 3), "h0": (2, None, 4), "c0": (2, None, 4)}

    with pytest.raises(InvalidInputError, match="does not return the cell state 'cn'"):
        Stream(TakesCButReturnsNone())


def test_rows_run_one_per_call_are_split_and_stacked_on_their_batch_axes(tmp_path):
    """A time-major artefact whose rows must not share a call: x split on axis 1, y stacked on its own."""
    from lstm_edge.runtime import Stream, open_runner

    path = tiny_onnx(tmp_path / "counter.onnx")                 # y = x[:, :, :2], hn = h0 + 1, cn = c0 + 2
    (tmp_path / "counter.onnx.json").write_text(json.dumps({"x_layout": "TBF", "y_batch_axis": 1, "batch_resizable": False}))
    runner, calls = open_runner(path), []
    invoke = runner._invoke
    runner._invoke = lambda f: calls.append(f["x"].shape) or invoke(f)
    f = {"x": np.random.default_rng(0).standard_normal((5, 3, 3)).astype(np.float32),
         "h0": np.zeros((2, 3, 4), np.float32), "c0": np.zeros((2, 3, 4), np.float32)}
    out = runner.run(f)
    assert calls == [(5, 1, 3)] * 3 and np.array_equal(out["y"], f["x"][:, :, :2]) and out["hn"].shape == (2, 3, 4)
    with pytest.raises(InvalidInputError, match=r"takes x \(T, B, F\) float32; a Stream feeds batch-first chunks"):
        Stream(runner)                                                # it would read a (B, k, F) chunk as (T, B, F)


def test_files_are_named_by_their_bytes_and_a_pickle_is_never_opened(tmp_path):
    from lstm_edge.runtime.sniff import expect, sniff

    files = {"empty.onnx": b"", "doc.json": b'{"a": [1, 2]}', "notes.txt": "température\n".encode(),
             "model.pt": pickle.dumps({"w": [1.0]}, protocol=4), "page.png": b"\x89PNG\r\n\x1a\n" + bytes(20)}
    for name, blob in files.items():
        (tmp_path / name).write_bytes(blob)
    np.savez(tmp_path / "arrays.npz", x=np.zeros(3))
    tiny_onnx(tmp_path / "counter.onnx")
    assert {p.name: sniff(p) for p in sorted(tmp_path.iterdir())} == {
        "arrays.npz": "zip", "counter.onnx": "onnx", "doc.json": "json", "empty.onnx": "empty", "model.pt": "pickle",
        "notes.txt": "text", "page.png": "png"}
    with pytest.raises(SecurityRefusal) as e:
        expect(tmp_path / "model.pt", "onnx")
    assert e.value.exit_code == 4
    with pytest.raises(InvalidInputError, match="empty"):
        expect(tmp_path / "empty.onnx", "onnx")
    expect(tmp_path / "counter.onnx", "onnx")                          # no error: it is what its name says


@pytest.mark.parametrize("value,parent,lower,budget,increase,passed", [
    (1.01, 1.0, True, 0.02, 0.01, True),            # MAE rose 1 %: within 2 %
    (1.03, 1.0, True, 0.02, 0.03, False),           # MAE rose 3 %
    (0.97, 1.0, False, 0.02, 0.03, False),          # accuracy fell 3 %
    (1.10, 1.0, False, 0.02, -0.10, True),          # accuracy rose: better is never refused
    (0.0, 0.0, True, 0.02, 0.0, True),              # a perfect parent, an equally perfect child
    (1e-9, 0.0, True, 0.02, float("inf"), False),   # any worsening of a perfect score
    (-0.9, -1.0, True, 0.2, 0.1, True),             # a negative parent: divided by |parent|
    (float("nan"), 1.0, True, 0.02, float("inf"), False),
    (5.0, 1.0, True, None, 4.0, True),              # no budget: recorded, not judged
])
def test_one_budget_rule_for_the_task_metric(value, parent, lower, budget, increase, passed):
    from lstm_edge.runtime.budget import metric_verdict

    v = metric_verdict(value, parent, lower, budget)
    assert v["increase"] == pytest.approx(increase) and v["passed"] is passed


def test_one_budget_rule_for_elements():
    from lstm_edge.runtime.budget import elements_within, format_increase

    ref = np.array([1.0, -2.0, 100.0])
    assert elements_within(ref + 1e-6, ref, 1e-5, 0.0)
    assert not elements_within(ref + [0, 0, 1e-3], ref, 1e-5, 0.0)
    assert elements_within(ref + [0, 0, 1e-3], ref, 1e-5, 1e-5)        # rtol·|ref| = 1e-3 at 100
    assert elements_within(ref + 7.0, ref, None, None)                 # no budget: recorded only
    assert not elements_within(np.array([1.0, np.nan, 100.0]), ref, None, None)   # but never a NaN
    assert [format_increase(x) for x in (0.0125, -0.003, float("inf"))] == ["+1.25%", "-0.30%", "+inf%"]


def test_device_harness_parses_its_commands_and_names_a_missing_bundle(tmp_path, capsys):
    from lstm_edge.runtime.__main__ import main, parser

    args = parser().parse_args(["bench", str(tmp_path), "--iterations", "7", "--artifact", "a.onnx", "--artifact", "b.ort"])
    assert (args.command, args.iterations, args.warmup, args.artifact) == ("bench", 7, 20, ["a.onnx", "b.ort"])
    assert main(["verify", str(tmp_path / "nowhere")]) == 3
    assert "nowhere: no such bundle" in capsys.readouterr().err
    assert main(["verify", str(tmp_path)]) == 3
    assert "not an lstm-edge bundle" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["flash"])
    assert e.value.code == 2
