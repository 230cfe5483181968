"""Every stage against PyTorch, over the test windows and the random grid, at the fp32 budget."""
import numpy as np
import pytest

from conftest import FAST_SPEC

from lstm_edge.verify.compare import compare

GRID = [f"random B={b} T={t}" for b in (1, 2, 7) for t in (1, 2, 50, 1000)]
STAGES = ["numpy-reference", "onnx-fp32", "tflite-fp32"]


def stage(report, name):
    return next(s for s in report.stages if s.name == name)


@pytest.mark.parametrize("name", STAGES)
def test_stage_within_fp32_budget_on_every_case(tiny_run, name):
    _, report = tiny_run
    s = stage(report, name)
    assert [c.case for c in s.comparisons] == ["test-windows", *GRID]
    failed = [(c.case, o.output, o.max_abs) for c in s.comparisons for o in c.outputs if not o.passed]
    assert not failed, failed
    assert (s.budget.atol, s.budget.rtol) == (1e-5, 1e-5)


def test_tflite_declares_the_cell_state_missing(tiny_run):
    _, report = tiny_run
    s = stage(report, "tflite-fp32")
    assert s.outputs == ("y", "hn") and "cn" in s.missing_outputs
    assert stage(report, "onnx-fp32").outputs == ("y", "hn", "cn")


def test_each_stage_keeps_the_task_metric(tiny_run):
    _, report = tiny_run
    root = report.stages[0]
    for s in report.stages[1:]:
        if not s.info.get("recipe"):   # fp32 stages; quantized ones have their own budget (test_quantize)
            assert abs(s.metrics["mae_std_units"] - root.metrics["mae_std_units"]) < 1e-4


def test_compare_names_the_worst_element():
    ref = {"y": np.zeros((2, 3, 1))}
    got = {"y": np.zeros((2, 3, 1))}
    got["y"][1, 2, 0] = 3e-5
    c = compare(got, ref, stage="s", parent="p", case="k", atol=1e-5, rtol=1e-5, outputs=("y",))
    assert not c and c.outputs[0].worst_index == [1, 2, 0]
    assert c.outputs[0].max_abs == pytest.approx(3e-5)
    got["y"][1, 2, 0] = 0.9e-5
    assert compare(got, ref, stage="s", parent="p", case="k", atol=1e-5, rtol=1e-5, outputs=("y",))


def test_a_permuted_gate_fails_parity(tiny_run, tmp_path):
    """Swap forget and output gate rows in the ONNX weights: verify must catch it, by name."""
    import shutil

    import onnx
    from onnx import numpy_helper

    from lstm_edge.files import write_sidecar
    from lstm_edge.model.gates import reorder
    from lstm_edge.verify.run import verify

    out, _ = tiny_run
    work = tmp_path / "run"
    shutil.copytree(out, work)
    path = work / "onnx-fp32.onnx"
    proto = onnx.load(str(path))
    inits = {i.name: i for i in proto.graph.initializer}
    lstm = next(n for n in proto.graph.node if n.op_type == "LSTM")
    W = numpy_helper.to_array(inits[lstm.input[1]])
    swapped = reorder(W[0], "onnx", "keras")   # reading ONNX rows as if they were Keras order
    inits[lstm.input[1]].CopyFrom(numpy_helper.from_array(swapped[None], lstm.input[1]))
    onnx.save(proto, str(path))
    write_sidecar(path, {k: v for k, v in __import__("json").loads((work / "onnx-fp32.onnx.json").read_text()).items()})
    report = verify(work)
    assert not report.passed
    assert any(line.startswith("onnx-fp32 vs pytorch, output 'y'") for line in report.failures())
    assert stage(report, "tflite-fp32").passed


# ---------------------------------------------------------------------------------------------
# lstm_edge.verify: compare, parity cases, the report (on synthetic stages)

def test_parity_cases_are_the_test_windows_then_the_seeded_grid():
    from lstm_edge.model.spec import spec_from_dict
    from lstm_edge.verify.parity import parity_cases

    spec = spec_from_dict(FAST_SPEC)
    dims = {"input_size": 3, "hidden_size": 5, "num_layers": 2, "output_size": 1}
    test_x = np.ones((4, 30, 3), np.float32)
    cases = parity_cases(spec, dims, test_x)
    assert [c.name for c in cases] == ["test-windows", "random B=1 T=1", "random B=1 T=40",
                                       "random B=3 T=1", "random B=3 T=40"]
    assert np.array_equal(cases[0].feeds["x"], test_x) and not cases[0].feeds["h0"].any()
    last = cases[-1].feeds
    assert last["x"].shape == (3, 40, 3) and last["h0"].shape == last["c0"].shape == (2, 3, 5)
    assert all(v.dtype == np.float32 for v in last.values())
    assert np.abs(last["h0"]).max() < 1 and last["c0"].std() > 0.3    # h in (−1, 1) as a real h is; c unbounded
    again = parity_cases(spec, dims, test_x)
    assert all(np.array_equal(a.feeds[k], b.feeds[k]) for a, b in zip(cases, again, strict=True) for k in a.feeds)


def synthetic_report(child_y_error: float, child_metric: float):
    from lstm_edge.model.spec import Tolerance
    from lstm_edge.verify.compare import compare
    from lstm_edge.verify.parity import StageResult
    from lstm_edge.verify.report import Report

    ref = {"y": np.linspace(-1, 1, 24).reshape(2, 4, 3), "hn": np.ones((1, 2, 5)), "cn": np.ones((1, 2, 5))}
    got = {k: v.copy() for k, v in ref.items()}
    got["y"][1, 2, 0] += child_y_error
    metrics = {"metric": "mae_std_units", "value": 1.0, "lower_is_better": True, "baseline_name": "seasonal-naive",
               "baseline": 2.0, "beats_baseline": True, "summary": "test MAE 1.0 std units"}
    root = StageResult(name="pytorch", parent="", format="pytorch", precision="fp32", artifact="model.safetensors",
                       size_bytes=100, budget=Tolerance("", "pytorch", 0.0, 0.0), outputs=(), missing_outputs={},
                       metrics=metrics)
    child = StageResult(name="onnx-fp32", parent="pytorch", format="onnx", precision="fp32", artifact="onnx-fp32.onnx",
                        size_bytes=2048, budget=Tolerance("pytorch", "onnx-fp32", 1e-5, 1e-5, 0.02),
                        outputs=("y", "hn", "cn"), missing_outputs={})
    child.comparisons.append(compare(got, ref, stage="onnx-fp32", parent="pytorch", case="random B=2 T=4",
                                     atol=1e-5, rtol=1e-5, outputs=("y", "hn", "cn")))
    child.metrics = metrics | {"value": child_metric}
    child.judge_metric(root.metrics)
    return Report(model="tiny", stages=[root, child], training={"epochs": 0, "history": []}, forecast=metrics,
                  cases=["random B=2 T=4"])


def test_report_of_passing_stages():
    from lstm_edge.verify.report import parity_rows, render_markdown

    report = synthetic_report(child_y_error=1e-7, child_metric=1.01)
    assert report.passed and report.failures() == []
    rows = parity_rows(report)
    assert [r[:3] for r in rows] == [["onnx-fp32", "pytorch", o] for o in ("y", "hn", "cn")]
    assert all(r[-1] == "pass" for r in rows) and rows[0][7] == "1e-05/1e-05"
    md = render_markdown(report)
    assert "Verdict: **PASS**" in md and "| onnx-fp32 | onnx | fp32 | onnx-fp32.onnx | 2.0 KiB | 1.01000 | pass |" in md
    d = report.to_dict()
    assert d["passed"] is True and [s["name"] for s in d["stages"]] == ["pytorch", "onnx-fp32"]
    assert d["stages"][1]["metric_check"]["increase"] == pytest.approx(0.01)


def test_report_names_the_worst_element_and_the_metric_that_failed():
    from lstm_edge.verify.report import render_markdown

    report = synthetic_report(child_y_error=0.25, child_metric=1.05)
    assert not report.passed
    lines = report.failures()
    assert any("test mae_std_units 1.0500 is +5.00% worse than pytorch's 1.0000; budget +2.00%" in x for x in lines), lines
    assert any("onnx-fp32 vs pytorch, output 'y', case 'random B=2 T=4': worst element (1, 2, 0)" in x for x in lines), lines
    md = render_markdown(report)
    assert "Verdict: **FAIL**" in md and "## Failures" in md
    assert "| onnx-fp32 | pytorch | y | 2.50e-01 |" in md and "| onnx-fp32 | pytorch | hn | 0.00e+00 |" in md
