"""What every task shares: its data (Examples, TaskData), the generic keys of its metrics dict,
and the sequence tasks' common evaluation (the task registry is lstm_edge/tasks/__init__.py)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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


def generic(metric: str, value: float, lower_is_better: bool, baseline_name: str, baseline: float,
            beats: bool, summary: str, **task_specific) -> dict:
    return {"metric": metric, "value": float(value), "lower_is_better": lower_is_better,
            "baseline_name": baseline_name, "baseline": float(baseline), "beats_baseline": bool(beats),
            "summary": summary, **task_specific}


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
