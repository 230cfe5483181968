"""The built-in metrics a project names (lstm-edge.toml: [metric] name = "…"), numpy only, so the
host and the device harness score the same outputs with the same functions.

Each is metric(y_pred, y_true) → float over the whole evaluation set: y_pred is the module's
output y as forward() returns it, y_true the evaluation set's y.

    mae, rmse, mse    regression: y_pred and y_true of the same shape
    accuracy, f1      classification: y_pred (…, C) scores (logits or probabilities) and y_true (…)
                      class ids, the class is the argmax; or y_pred of y_true's shape holding the
                      probability of class 1 (threshold 0.5) for binary labels {0, 1}. f1 is the
                      macro average over the classes present in y_true or predicted (binary: class 1's F1)
    cross_entropy     y_pred (…, C) logits, y_true (…) ids: mean −ln softmax(y_pred)[y_true], in nats

A shape that does not fit the metric raises MetricInputError naming both shapes.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np


class MetricInputError(ValueError):
    """y_pred / y_true that the metric cannot compare; the caller names the file and the metric."""


class Metric(NamedTuple):
    fn: Callable[[np.ndarray, np.ndarray], float]
    lower_is_better: bool
    what: str


def _same(y_pred: np.ndarray, y_true: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    if y_pred.shape != y_true.shape:
        raise MetricInputError(f"{name} compares arrays of one shape; y_pred is {y_pred.shape}, y_true {y_true.shape}")
    return y_pred.astype(np.float64), y_true.astype(np.float64)


def _classes(y_pred: np.ndarray, y_true: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """→ (predicted ids, true ids), both of y_true's shape."""
    truth = np.asarray(y_true)
    if truth.dtype.kind == "f" and not np.all(truth == np.round(truth)):
        raise MetricInputError(f"{name} needs class ids in y_true; it holds non-integer values")
    truth = truth.astype(np.int64)
    if y_pred.shape == truth.shape:                         # binary: the probability of class 1
        if truth.size and (truth.min() < 0 or truth.max() > 1):
            raise MetricInputError(f"{name}: y_pred has y_true's shape {truth.shape}, which means a probability of "
                                   "class 1, but y_true holds ids beyond {0, 1}")
        return (y_pred >= 0.5).astype(np.int64), truth
    if y_pred.shape[:-1] != truth.shape:
        raise MetricInputError(f"{name} needs y_pred (…, C) with y_true (…): y_pred is {y_pred.shape}, y_true {truth.shape}")
    return np.argmax(y_pred, axis=-1), truth


def mae(y_pred, y_true) -> float:
    a, b = _same(y_pred, y_true, "mae")
    return float(np.mean(np.abs(a - b)))


def mse(y_pred, y_true) -> float:
    a, b = _same(y_pred, y_true, "mse")
    return float(np.mean((a - b) ** 2))


def rmse(y_pred, y_true) -> float:
    a, b = _same(y_pred, y_true, "rmse")
    return float(np.sqrt(np.mean((a - b) ** 2)))


def accuracy(y_pred, y_true) -> float:
    pred, truth = _classes(y_pred, y_true, "accuracy")
    return float(np.mean(pred == truth))


def f1(y_pred, y_true) -> float:
    pred, truth = _classes(y_pred, y_true, "f1")
    binary = y_pred.shape == np.shape(y_true)
    scores = []
    for c in ([1] if binary else sorted(set(truth.ravel().tolist()) | set(pred.ravel().tolist()))):
        tp = float(np.sum((pred == c) & (truth == c)))
        fp, fn = float(np.sum((pred == c) & (truth != c))), float(np.sum((pred != c) & (truth == c)))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def cross_entropy(y_pred, y_true) -> float:
    truth = np.asarray(y_true).astype(np.int64)
    if y_pred.shape[:-1] != truth.shape:
        raise MetricInputError(f"cross_entropy needs logits (…, C) with ids (…): y_pred is {y_pred.shape}, "
                               f"y_true {truth.shape}")
    if truth.size and (truth.min() < 0 or truth.max() >= y_pred.shape[-1]):
        raise MetricInputError(f"cross_entropy: y_true holds ids outside 0..{y_pred.shape[-1] - 1}")
    z = y_pred.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return float(-np.take_along_axis(logp, truth[..., None], axis=-1).mean())


BUILTIN: dict[str, Metric] = {
    "mae": Metric(mae, True, "mean absolute error"),
    "rmse": Metric(rmse, True, "root mean squared error"),
    "mse": Metric(mse, True, "mean squared error"),
    "accuracy": Metric(accuracy, False, "share of argmax classes equal to y_true"),
    "f1": Metric(f1, False, "macro F1 over classes (binary: class 1)"),
    "cross_entropy": Metric(cross_entropy, True, "mean −ln p(y_true), nats"),
}
