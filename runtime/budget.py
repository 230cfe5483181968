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


# --- the element rule, kept for later budgets ------------------------------------------------------
# `lstm-edge verify --recheck` re-judges stored figures against new budgets without running inference.
# An output passes (atol, rtol) iff max_i (d_i − rtol·a_i) ≤ atol, with d = |child − parent| and
# a = |parent|. Over rtol ≥ 0 that maximum is reached on a few elements only: the upper convex hull of the
# points (a_i, d_i) from the one of largest d (rtol = 0) to the one of smallest a (rtol → ∞). Those points
# (typically under 20, whatever the output's size) are stored; judging them is the rule above, exactly.

def envelope(got: np.ndarray, ref: np.ndarray) -> list[list[float]] | None:
    """The points [|b|, |a − b|] that decide every (atol, rtol) budget; None when a child value is not
    finite (then no budget passes)."""
    a = np.asarray(got, np.float64).ravel()
    if not np.isfinite(a).all():
        return None
    b = np.asarray(ref, np.float64).ravel()
    return hull(np.stack([np.abs(b), np.abs(a - b)], axis=1))


def hull(points: np.ndarray) -> list[list[float]]:
    """(N, 2) points (a, d) → the deciding ones (see above), sorted by a."""
    if len(points) == 0:
        return []
    pts = np.unique(points, axis=0)                               # sorted by a, then d
    pts = pts[np.r_[pts[1:, 0] != pts[:-1, 0], True]]             # the largest d at each a
    pts = pts[: int(np.argmax(pts[:, 1])) + 1]                    # left of the largest d: the rest never decides
    keep: list[np.ndarray] = []
    for p in pts:                                                 # Andrew's monotone chain, upper part
        while len(keep) >= 2:
            (x1, y1), (x2, y2) = keep[-2], keep[-1]
            cross = (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1)
            if cross < 1e-12 * max(abs(x2 - x1) * abs(p[1] - y1), abs(y2 - y1) * abs(p[0] - x1), 1e-300):
                break                                             # keep[-1] is above the chord (or on it): it stays
            keep.pop()
        keep.append(p)
    return [[float(x), float(y)] for x, y in keep]


def envelope_within(points: list[list[float]] | None, atol: float | None, rtol: float | None) -> bool:
    """The element rule on stored points: what elements_within said of the full arrays."""
    if points is None:
        return False
    if atol is None:
        return True
    return all(d - (atol + (rtol or 0.0) * a) <= 0 for a, d in points)
