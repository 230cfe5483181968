"""The adding problem (Hochreiter & Schmidhuber, 1997): memory over long gaps.

Each sequence has T steps of two channels: a value ~ U(0, 1) and a marker that is 1 at
exactly two steps — one in the first half, one in the second — and 0 elsewhere. The target
is the sum of the two marked values, read from y at the last step. Always answering 1.0
(the mean of the sum) scores MSE = Var(U + U) = 1/6 ≈ 0.167; a model that beats that by
far must have carried the first marked value across at least T/2 steps. The pass bar is
MSE ≤ 0.1 × that baseline (`PASS_FRACTION`), measured on the test sequences.
"""
from __future__ import annotations

import numpy as np

from lstm_edge.tasks.base import SequenceTask, Examples, TaskData, generated_splits, generic, identity_normalization

PASS_FRACTION = 0.1     # "far below" the always-1.0 baseline, as a number


def adding_sequences(n: int, length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """→ x (n, T, 2) float32 [value, marker], target (n,) float32: the sum of the marked values."""
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.0, 1.0, (n, length))
    first = rng.integers(0, length // 2, n)                     # a marker in the first half …
    second = rng.integers(length // 2, length, n)               # … and one in the second
    marker = np.zeros((n, length))
    rows = np.arange(n)
    marker[rows, first] = marker[rows, second] = 1.0
    target = values[rows, first] + values[rows, second]
    return np.stack([values, marker], axis=-1).astype(np.float32), target.astype(np.float32)


class AddingTask(SequenceTask):
    name = "adding"
    metric = "mse"
    lower_is_better = True
    scored_steps = "last"

    def load(self, csv=None, **_) -> TaskData:
        d = self.spec.data
        raw, sizes = generated_splits(self.spec, adding_sequences)
        parts = [Examples(*r) for r in raw]
        features = ("value", "marker")
        return TaskData(*parts, features, ("sum",), identity_normalization(features),
                        f"adding-problem T={d.window} seed={d.seed}", {"sequences": sizes})

    def loss(self, out, y):
        return ((out[:, -1, 0] - y) ** 2).mean()

    def score(self, y: np.ndarray, ev: dict) -> dict:
        pred, truth = y[:, -1, 0].astype(np.float64), ev["truth"].astype(np.float64)
        mse = float(np.mean((pred - truth) ** 2))
        baseline = float(np.mean((1.0 - truth) ** 2))
        return generic(self.metric, mse, True, "always 1.0", baseline, mse <= PASS_FRACTION * baseline,
                       f"test MSE {mse:.5f} vs {baseline:.4f} for always predicting 1.0 "
                       f"({baseline / max(mse, 1e-12):.0f}× lower; pass bar {PASS_FRACTION:g}× baseline)",
                       sequences=int(len(pred)), mae=float(np.mean(np.abs(pred - truth))),
                       pass_fraction_of_baseline=PASS_FRACTION)

    def golden_target(self, ev: dict) -> np.ndarray:
        return ev["truth"].astype(np.float64)[:, None]           # (N, 1): y[:, -1] is (N, 1)
