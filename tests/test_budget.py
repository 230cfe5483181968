"""Host and device judge every budget case alike: one table, run through both code paths.

Host: lstm_edge.verify.parity.StageResult.judge_metric and lstm_edge.verify.compare.compare (what
`lstm-edge verify` and the report use). Device: lstm_edge.runtime.harness.verify.judge (what
`python -m lstm_edge.runtime verify` uses). Both rest on lstm_edge/runtime/budget.py; this test
keeps any future copy of the rule from drifting (the device once passed a parent metric of 0
that the host refused).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from lstm_edge.model.spec import Tolerance
from lstm_edge.runtime.harness import verify as device
from lstm_edge.verify.compare import compare
from lstm_edge.verify.parity import StageResult

# value, parent value, lower is better, metric_increase budget → passed
METRIC_CASES = [
    (1.01, 1.00, True, 0.02, True),       # an error rose 1 %: within 2 %
    (1.03, 1.00, True, 0.02, False),      # rose 3 %
    (0.97, 1.00, False, 0.02, False),     # accuracy fell 3 %
    (0.99, 1.00, False, 0.02, True),      # accuracy fell 1 %
    (1.20, 1.00, False, 0.02, True),      # accuracy rose: better, whatever the size
    (0.00, 0.00, True, 0.02, True),       # perfect parent, equally perfect child
    (1e-9, 0.00, True, 0.02, False),      # perfect parent, any worse child: +inf %
    (0.50, 0.00, False, 0.02, True),      # parent accuracy 0: the child cannot be worse
    (-0.985, -1.00, True, 0.02, True),    # a negative metric (log-likelihood-like): a 1.5 % rise
    (-0.90, -1.00, True, 0.02, False),    # 10 % rise
    (math.nan, 1.00, True, 0.02, False),  # a NaN metric never passes
    (5.00, 1.00, True, None, True),       # no metric budget: recorded only
]


def host_metric(value, parent, lower, budget) -> bool:
    stage = StageResult("child", "parent", "onnx", "int8", "c.onnx", 1, Tolerance("parent", "child", None, None, budget),
                        ("y",), {}, metrics={"metric": "m", "value": value, "lower_is_better": lower})
    stage.judge_metric({"value": parent})
    return stage.metric_check is None or stage.metric_check["passed"]


class FakeBundle:
    """What judge() reads from a bundle: the parent's golden outputs, the manifest's metric, targets."""

    def __init__(self, parent_outputs: dict, lower: bool):
        self.parent_outputs = parent_outputs
        self.manifest = {"metric": {"name": "value", "case": "windows", "lower_is_better": lower}}
        self.golden = {"windows.target": np.zeros(1)}

    def outputs(self, stage: str, case: str) -> dict:
        return self.parent_outputs if stage == "parent" else {}


def device_judge(got_y, parent_y, lower, atol=None, rtol=None, increase=None, monkeypatch=None) -> bool:
    monkeypatch.setitem(device.METRICS, "value", lambda y, target: float(y.ravel()[0]))
    budget = {k: v for k, v in (("atol", atol), ("rtol", rtol), ("metric_increase", increase)) if v is not None}
    entry = {"budget": budget, "outputs": ["y"], "parent": "parent", "stage": "child"}
    check = device.ArtifactCheck("c.onnx", "onnxruntime", "int8", "parent")
    device.judge(check, entry, {"windows": {"y": got_y}}, FakeBundle({"y": parent_y}, lower))
    return check.status == "pass"


@pytest.mark.parametrize("value,parent,lower,budget,passed", METRIC_CASES)
def test_task_metric_cases_agree(value, parent, lower, budget, passed, monkeypatch):
    y, py = np.full((1, 1, 1), value), np.full((1, 1, 1), parent)
    assert host_metric(value, parent, lower, budget) is passed
    assert device_judge(y, py, lower, increase=budget, monkeypatch=monkeypatch) is passed


# child values, parent values, atol, rtol → passed
ELEMENT_CASES = [
    ([1.0, 2.0], [1.0, 2.0], 1e-5, 1e-5, True),
    ([1.0, 2.00001], [1.0, 2.0], 1e-5, 1e-5, True),       # 1e-5 ≤ 1e-5 + 2e-5
    ([1.0, 2.0001], [1.0, 2.0], 1e-5, 1e-5, False),
    ([1e-4], [0.0], 1e-5, 1e-5, False),                    # a reference of 0 leaves only atol
    ([np.nan], [1.0], 1e-3, 1e-3, False),                  # a NaN output fails, however wide the budget
    ([np.inf], [np.inf], 1e-3, 1e-3, False),
]


@pytest.mark.parametrize("got,ref,atol,rtol,passed", ELEMENT_CASES)
def test_element_cases_agree(got, ref, atol, rtol, passed, monkeypatch):
    got_y, ref_y = np.asarray(got, np.float32)[None, None], np.asarray(ref, np.float32)[None, None]
    host = compare({"y": got_y}, {"y": ref_y}, stage="child", parent="parent", case="c", atol=atol, rtol=rtol, outputs=("y",))
    assert bool(host) is passed
    # the device's metric check is neutral here (equal metric values), so the verdict is the elements'
    monkeypatch.setitem(device.METRICS, "value", lambda y, target: 1.0)
    assert device_judge(got_y, ref_y, True, atol=atol, rtol=rtol, monkeypatch=monkeypatch) is passed


def test_the_device_table_says_how_much_worse():
    """The device's table reads the increase from the same rule (it once divided by a parent of 0)."""
    check = device.ArtifactCheck("c.onnx", "onnxruntime", "int8", "parent", status="pass", metric=0.5,
                                 parent_metric=0.0, metric_increase=math.inf)
    row = device.table_rows([check])[0]
    assert "+inf% worse" in row[5]


# --- the stored points judge any later budget as the arrays would (verify --recheck) ---------------

from hypothesis import given, settings, strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

finite = st.floats(-1e3, 1e3, width=32)


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float32, st.integers(1, 400), elements=finite), st.data())
def test_the_envelope_judges_every_budget_as_the_arrays_do(ref, data):
    from lstm_edge.runtime.budget import element_excess, elements_within, envelope, envelope_within

    noise = data.draw(hnp.arrays(np.float32, ref.shape, elements=st.floats(-0.0078125, 0.0078125, width=32)))
    got = (ref + noise * data.draw(st.sampled_from([0.0, 1e-4, 1.0]))).astype(np.float32)
    points = envelope(got, ref)
    assert len(points) <= len(ref)
    budgets = [(1e-5, 1e-5), (1e-3, 0.0), (0.0, 1e-3), (None, None)]
    for rtol in (0.0, 1e-4, 1e-2):                 # and exactly at the boundary, and one float either side
        edge = float(element_excess(got, ref, 0.0, rtol).max())
        budgets += [(a, rtol) for a in (edge, np.nextafter(edge, -np.inf), np.nextafter(edge, np.inf)) if a >= 0]
    for atol, rtol in budgets:
        assert envelope_within(points, atol, rtol) == elements_within(got, ref, atol, rtol), (atol, rtol)


def test_a_non_finite_value_fails_every_stored_budget():
    from lstm_edge.runtime.budget import envelope, envelope_within

    points = envelope(np.array([1.0, np.nan], np.float32), np.ones(2, np.float32))
    assert points is None and not envelope_within(points, 1.0, 1.0) and not envelope_within(points, None, None)
