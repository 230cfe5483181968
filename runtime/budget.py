"""The budget rule, written once: host verify, quantize, the report and the device check call it.

Two kinds of budget, both from the model spec's tolerance table (parent stage → child stage):

- element-wise: every element of a child output must satisfy |a − b| ≤ atol + rtol·|b|, b the
  parent's value (numpy.allclose semantics); a non-finite child value always fails.
- task metric: the child's metric may be worse than the parent's by at most `metric_increase`,
  relative to the parent: +0.02 = 2 % worse, "worse" meaning a rise for MAE, MSE or bits per
  character and a fall for accuracy.

Edge cases, decided here and nowhere else:
- parent metric 0 (a perfect MSE, say): a relative budget cannot admit any worsening of a
  perfect score, so an equal child is +0 % and a worse one +inf % (refused); a better one −inf %.
- negative parent metrics: the relative change divides by |parent|, so the direction holds.
- a NaN metric on either side is +inf % worse: never a pass.
- no budget (None): the figure is recorded, not judged (passes).
"""
from __future__ import annotations

import math

import numpy as np


def element_excess(got: np.ndarray, ref: np.ndarray, atol: float | None, rtol: float | None) -> np.ndarray:
    """(shape of ref) float64: |a − b| − (atol + rtol·|b|); > 0 where an element is over budget.
    With atol None the budget records only: the excess is the plain |a − b|."""
    a, b = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    err = np.abs(a - b)
    if atol is None:
        return err
    return err - (atol + (rtol or 0.0) * np.abs(b))


def elements_within(got: np.ndarray, ref: np.ndarray, atol: float | None, rtol: float | None) -> bool:
    """True iff every element is finite and within atol + rtol·|ref| (always True without a budget
    but for non-finite values)."""
    a = np.asarray(got)
    if not np.isfinite(a).all():
        return False
    return atol is None or bool((element_excess(a, ref, atol, rtol) <= 0).all())


def worsening(value: float, parent: float, lower_is_better: bool) -> float:
    """Relative change for the worse: +0.02 = 2 % worse than the parent, in either direction."""
    if math.isnan(value) or math.isnan(parent):
        return math.inf
    change = (value - parent) if lower_is_better else (parent - value)
    if parent == 0:
        return 0.0 if change == 0 else math.copysign(math.inf, change)
    return change / abs(parent)


def metric_verdict(value: float, parent: float, lower_is_better: bool, budget: float | None) -> dict:
    """The task-metric judgement: {value, parent_value, increase, budget, passed}."""
    increase = worsening(value, parent, lower_is_better)
    return {"value": float(value), "parent_value": float(parent), "increase": increase, "budget": budget,
            "passed": budget is None or increase <= budget}


def format_increase(increase: float, digits: int = 2) -> str:
    """'+1.25%' / '-0.30%' / '+inf%': how every table and message writes "worse by"."""
    if math.isinf(increase):
        return "+inf%" if increase > 0 else "-inf%"
    return f"{100 * increase:+.{digits}f}%"
