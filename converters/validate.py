"""Self-checks every converter runs on what it just wrote (optimum-style, but strict).

Order: names → shapes → dtypes → finite → values. Every failed check is collected; the
caller raises one ConversionError listing all of them. A tolerance miss fails, never warns.
"""
from __future__ import annotations

import numpy as np

from lstm_edge.runtime.budget import element_excess


def example_feeds(dims: dict, batch: int = 2, length: int = 5, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded inputs of the contract (lstm_edge/runtime/feeds.py says how they are drawn)."""
    from lstm_edge.runtime.feeds import contract_inputs

    return contract_inputs(np.random.default_rng(seed), dims, batch, length)


def check_outputs(got: dict, want: dict, names: tuple[str, ...], atol: float, rtol: float) -> list[str]:
    """Compare runtime outputs `got` with PyTorch's `want` on the outputs in `names`."""
    failures = []
    for n in names:
        if n not in got:
            failures.append(f"output '{n}' missing (got {sorted(got)})")
            continue
        a, b = np.asarray(got[n]), np.asarray(want[n])
        if a.shape != b.shape:
            failures.append(f"output '{n}' shape {a.shape}, expected {b.shape}")
        elif a.dtype != np.float32:
            failures.append(f"output '{n}' dtype {a.dtype}, expected float32")
        elif not np.isfinite(a).all():
            failures.append(f"output '{n}' has non-finite values")
        else:
            err = np.abs(a.astype(np.float64) - b)
            excess = element_excess(a, b, atol, rtol)          # the one rule: lstm_edge/runtime/budget.py
            if (excess > 0).any():
                i = np.unravel_index(np.argmax(excess), a.shape)
                failures.append(f"output '{n}' differs from PyTorch at {tuple(int(k) for k in i)}: "
                                f"{a[i]:.8g} vs {b[i]:.8g} (|diff| {err[i]:.3g} > atol {atol:g} + rtol {rtol:g}·|ref|)")
    return failures


def torch_outputs(model, feeds: dict) -> dict[str, np.ndarray]:
    from lstm_edge.model.network import TorchRunner

    return TorchRunner(model).run(feeds)
