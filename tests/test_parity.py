"""Every stage against PyTorch, over the test windows and the random grid, at the fp32 budget."""
import numpy as np
import pytest

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
