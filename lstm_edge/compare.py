"""Compare one stage's outputs with its parent's: a report object, truthy on pass.

Pass iff |a − b| ≤ atol + rtol·|b| for every element (numpy.allclose semantics, b the
parent). Figures per output: max abs, max rel (|a − b| / max(|b|, atol), so tiny
references do not divide by zero), mean abs, cosine, and the worst element — the one
that exceeds its allowance most (or comes closest to it), with both values.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class OutputDiff:
    output: str
    max_abs: float
    max_rel: float
    mean_abs: float
    cosine: float
    worst_index: list[int]
    worst_value: float         # the child's value at worst_index
    worst_reference: float     # the parent's value there
    passed: bool


@dataclass
class Comparison:
    stage: str
    parent: str
    case: str                  # which inputs: "test-windows", "random B=7 T=1000", …
    atol: float
    rtol: float
    outputs: list[OutputDiff] = field(default_factory=list)

    def __bool__(self) -> bool:
        return all(o.passed for o in self.outputs)

    @property
    def passed(self) -> bool:
        return bool(self)

    def to_dict(self) -> dict:
        return asdict(self) | {"passed": self.passed}


def compare(got: dict, ref: dict, *, stage: str, parent: str, case: str, atol: float, rtol: float,
            outputs: tuple[str, ...]) -> Comparison:
    result = Comparison(stage, parent, case, atol, rtol)
    for name in outputs:
        a = np.asarray(got[name], dtype=np.float64)
        b = np.asarray(ref[name], dtype=np.float64)
        if a.shape != b.shape:
            raise ValueError(f"{stage} vs {parent} on {case}: output '{name}' shape {a.shape} vs {b.shape}")
        err = np.abs(a - b)
        excess = err - (atol + rtol * np.abs(b))
        worst = np.unravel_index(int(np.argmax(excess)), a.shape)
        denom = np.linalg.norm(a) * np.linalg.norm(b)
        result.outputs.append(OutputDiff(
            output=name, max_abs=float(err.max()), max_rel=float((err / np.maximum(np.abs(b), atol)).max()),
            mean_abs=float(err.mean()), cosine=float((a.ravel() @ b.ravel()) / denom) if denom > 0 else 1.0,
            worst_index=[int(i) for i in worst], worst_value=float(a[worst]), worst_reference=float(b[worst]),
            passed=bool((excess <= 0).all() and np.isfinite(a).all()),
        ))
    return result
