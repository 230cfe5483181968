"""Compare one stage's outputs with its parent's: a report object, truthy on pass.

Pass iff |a − b| ≤ atol + rtol·|b| for every element (the one rule: lstm_edge/runtime/budget.py, b the
parent); with atol = rtol = None the figures are recorded only (int8 stages are judged on
their task metric instead). Figures per output: max abs, max rel (|a − b| / max(|b|, 1e-5),
so tiny references do not divide by zero), mean abs, RMSE, cosine, SNR in dB, the worst
element — the one that exceeds its allowance most (or has the largest error), with both values — and
the few points that decide any other budget (runtime/budget.envelope), so a stored report can be
re-judged against new budgets without running anything (lstm-edge verify --recheck).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from lstm_edge.runtime.budget import element_excess, elements_within, envelope


@dataclass
class OutputDiff:
    output: str
    max_abs: float
    max_rel: float
    mean_abs: float
    rmse: float
    cosine: float
    snr_db: float | None       # 10·log10(Σb² / Σ(a − b)²); None when identical
    worst_index: list[int]
    worst_value: float         # the child's value at worst_index
    worst_reference: float     # the parent's value there
    passed: bool
    envelope: list | None = None  # [[|b|, |a − b|], …] deciding every (atol, rtol); None: a non-finite value


@dataclass
class Comparison:
    stage: str
    parent: str
    case: str                  # which inputs: "test-windows", "random B=7 T=1000", …
    atol: float | None
    rtol: float | None
    outputs: list[OutputDiff] = field(default_factory=list)

    def __bool__(self) -> bool:
        return all(o.passed for o in self.outputs)

    @property
    def passed(self) -> bool:
        return bool(self)

    def to_dict(self) -> dict:
        return asdict(self) | {"passed": self.passed}


def compare(got: dict, ref: dict, *, stage: str, parent: str, case: str, atol: float | None,
            rtol: float | None, outputs: tuple[str, ...]) -> Comparison:
    result = Comparison(stage, parent, case, atol, rtol)
    for name in outputs:
        a = np.asarray(got[name], dtype=np.float64)
        b = np.asarray(ref[name], dtype=np.float64)
        if a.shape != b.shape:
            raise ValueError(f"{stage} vs {parent} on {case}: output '{name}' shape {a.shape} vs {b.shape}")
        err = np.abs(a - b)
        excess = element_excess(a, b, atol, rtol)
        worst = np.unravel_index(int(np.argmax(excess)), a.shape)
        denom = np.linalg.norm(a) * np.linalg.norm(b)
        noise = float((err ** 2).sum())
        result.outputs.append(OutputDiff(
            output=name, max_abs=float(err.max()), max_rel=float((err / np.maximum(np.abs(b), 1e-5)).max()),
            mean_abs=float(err.mean()), rmse=float(np.sqrt((err ** 2).mean())),
            cosine=float((a.ravel() @ b.ravel()) / denom) if denom > 0 else 1.0,
            snr_db=float(10 * np.log10((b ** 2).sum() / noise)) if noise > 0 else None,
            worst_index=[int(i) for i in worst], worst_value=float(a[worst]), worst_reference=float(b[worst]),
            passed=elements_within(a, b, atol, rtol), envelope=envelope(a, b),
        ))
    return result
