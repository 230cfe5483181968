"""Tasks: what a model learns, how it is trained, and the metric every stage is judged on.

Every task shares one model contract — x (B, T, F) float32, h0, c0 (L, B, H) → y (B, T, O),
hn, cn — so the exporters, quantizers, streaming checks, bundle and device harness are the
same for all of them. A task differs only in its data, its loss and its metric:

| task     | data.source      | y is read at | loss               | metric (better)          | baseline                |
|----------|------------------|--------------|--------------------|--------------------------|-------------------------|
| forecast | sensor, csv      | every step   | MSE after warm-up  | MAE, std units (lower)   | seasonal-naive          |
| adding   | adding           | last step    | MSE                | MSE (lower)              | always predict 1.0      |
| gesture  | gesture          | last step    | cross-entropy      | accuracy (higher)        | the majority class      |
| charlm   | text             | every step   | cross-entropy      | bits per character (lower)| unigram frequencies    |

Every metrics dict carries the generic keys `metric`, `value`, `lower_is_better`,
`baseline_name`, `baseline`, `beats_baseline` and `summary`, beside the task's own.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TASK_OF_SOURCE = {"sensor": "forecast", "csv": "forecast", "adding": "adding", "gesture": "gesture", "text": "charlm"}


@dataclass
class Examples:
    """x (N, T, F) float32 inputs; y the training target, shaped as the task's loss wants it."""

    x: np.ndarray
    y: np.ndarray


@dataclass
class TaskData:
    """What training needs; `extra` goes into model.json (classes, vocabulary, normalization …)."""

    train: Examples
    val: Examples
    test: Examples
    features: tuple[str, ...]        # the F input channels
    targets: tuple[str, ...]         # the O output channels
    normalization: dict              # lstm_edge.data.windows.Normalization.to_dict()
    source: str                      # where the data came from, for the report
    extra: dict                      # task facts stored with the checkpoint


def task_name(spec) -> str:
    return TASK_OF_SOURCE[spec.data.source]


def task_for(spec, meta: dict | None = None):
    """The task object of a spec; `meta` (model.json) restores what training learned (norm, vocab)."""
    name = task_name(spec)
    if name == "forecast":
        from lstm_edge.tasks.forecast import ForecastTask as cls
    elif name == "adding":
        from lstm_edge.tasks.adding import AddingTask as cls
    elif name == "gesture":
        from lstm_edge.tasks.gesture import GestureTask as cls
    else:
        from lstm_edge.tasks.charlm import CharLMTask as cls
    return cls(spec, meta)


def generic(metric: str, value: float, lower_is_better: bool, baseline_name: str, baseline: float,
            beats: bool, summary: str, **task_specific) -> dict:
    return {"metric": metric, "value": float(value), "lower_is_better": lower_is_better,
            "baseline_name": baseline_name, "baseline": float(baseline), "beats_baseline": bool(beats),
            "summary": summary, **task_specific}


def worsening(value: float, parent: float, lower_is_better: bool) -> float:
    """Relative change of a metric for the worse: +0.02 = 2 % worse than the parent, either direction."""
    if parent == 0:
        return 0.0 if value == parent else float("inf")
    return (value - parent) / abs(parent) if lower_is_better else (parent - value) / abs(parent)


class SequenceTask:
    """What the sequence tasks (adding, gesture, charlm) share: evaluation sets are their split's
    x and targets as they are, and the device compares y with those targets."""

    def __init__(self, spec, meta: dict | None = None):
        self.spec, self.meta = spec, meta

    def eval_set(self, data: TaskData, split: str) -> dict[str, np.ndarray]:
        part = data.test if split == "test" else data.val
        return {"x": part.x, "truth": part.y}

    def golden_target(self, ev: dict) -> np.ndarray:
        return ev["truth"]


def generated_splits(spec, generate) -> tuple[list, list[int]]:
    """`generate(n, T, seed)` once per split, each with its own seed: the test sequences are
    never a reshuffle of the training ones. → (the three results, their sizes)."""
    d = spec.data
    sizes = [max(1, int(round(f * d.sequences))) for f in d.split]
    return [generate(n, d.window, d.seed * 3 + k) for k, n in enumerate(sizes)], sizes


def identity_normalization(columns) -> dict:
    """Inputs used as they are (markers, token ids): mean 0, std 1 keeps one code path."""
    return {"columns": list(columns), "mean": [0.0] * len(columns), "std": [1.0] * len(columns)}
