"""Drift against the last accepted run: `lstm-edge verify DIR --baseline old/report.json --max-regression max_abs:20%`.

A stage can get worse and still sit inside its absolute budget (an fp32 export at 8e-6 against 1e-5 that was at
1e-7 last week). Each limit "FIGURE:PERCENT" compares this run's figure with the baseline's, per stage × output
present in both, and fails when it grew by more than PERCENT:

    max_abs, max_rel, mean_abs, rmse   the stage × output figures (worst case over the parity cases)
    metric                             the stage's task metric, "worse" in its own direction (runtime/budget.py)

A grown figure from a baseline of exactly 0 (an .ort beside its .onnx) is an infinite growth, so it fails: a
bit-identical pair that stops being identical is a change to look at. A stage the baseline judged and this run
does not have is a regression too (a recipe refused now, an artefact gone); a new stage is listed, not judged.
"""
from __future__ import annotations

import math
import re

from lstm_edge.errors import UsageError
from lstm_edge.runtime.budget import format_increase, worsening

FIGURES = ("max_abs", "max_rel", "mean_abs", "rmse", "metric")
LIMIT = re.compile(r"^\s*([a-z_]+)\s*:\s*([0-9]*\.?[0-9]+)\s*%\s*$")
DEFAULT_LIMITS = ("max_abs:20%",)


def parse_limits(texts) -> dict[str, float]:
    """["max_abs:20%", "metric:1%"] → {"max_abs": 0.2, "metric": 0.01}; a malformed one is a usage error."""
    limits = {}
    for text in texts or DEFAULT_LIMITS:
        m = LIMIT.match(text)
        if not m or m.group(1) not in FIGURES:
            raise UsageError(f"--max-regression {text!r}: expected FIGURE:PERCENT, FIGURE one of {', '.join(FIGURES)}",
                             hint="for example --max-regression max_abs:20%")
        limits[m.group(1)] = float(m.group(2)) / 100
    return limits


def growth(value: float, base: float) -> float:
    """Relative growth of an error figure: +0.2 = 20 % larger than the baseline's."""
    if math.isnan(value) or math.isnan(base):
        return math.inf
    if base == 0:
        return 0.0 if value == 0 else math.inf
    return (value - base) / abs(base)


def regressions(report: dict, baseline: dict, limits: dict[str, float]) -> list[dict]:
    """One row per judged (stage, output, figure): {stage, output, figure, baseline, value, growth, limit, passed}."""
    old = {s["name"]: s for s in baseline.get("stages", [])}
    new = {s["name"]: s for s in report["stages"]}
    rows = []
    for name in old:
        if name not in new:
            rows.append({"stage": name, "output": None, "figure": "present", "baseline": None, "value": None,
                         "growth": None, "limit": None, "passed": False,
                         "message": f"{name} was in the baseline and is missing from this run"})
    for name, s in new.items():
        b = old.get(name)
        if b is None or not s.get("parent"):
            continue
        for figure, limit in limits.items():
            if figure == "metric":
                if s.get("metrics") and b.get("metrics") and "value" in s["metrics"] and "value" in b["metrics"]:
                    g = worsening(s["metrics"]["value"], b["metrics"]["value"], s["metrics"]["lower_is_better"])
                    rows.append(_row(name, None, figure, b["metrics"]["value"], s["metrics"]["value"], g, limit))
                continue
            for out, w in s["outputs"].items():
                if out in b.get("outputs", {}):
                    base, value = b["outputs"][out][figure], w[figure]
                    rows.append(_row(name, out, figure, base, value, growth(value, base), limit))
    return rows


def _row(stage, output, figure, base, value, g, limit) -> dict:
    where = f"{stage}::{output}" if output else stage
    return {"stage": stage, "output": output, "figure": figure, "baseline": base, "value": value, "growth": g,
            "limit": limit, "passed": g <= limit,
            "message": f"{where} {figure} {value:.3g} vs the baseline's {base:.3g}: {format_increase(g)} "
                       f"(limit {format_increase(limit, 1)})"}
