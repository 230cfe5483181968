"""A project's metric as a task: every stage of a user's model is scored by it on their evaluation set.

The metric is a built-in (lstm_edge/runtime/metrics.py) or the user's own function(y_pred, y_true)
→ float from a file, with the direction the project file states. The root stage (PyTorch) must
beat a baseline no model can fail to beat if it learned anything and the direction is right: its
own predictions with the evaluation rows shuffled (a fixed permutation along y's batch axis). A
metric whose direction was given the wrong way round (or an untrained model) fails there, by name,
instead of making every later "worse by" judge backwards.
"""
from __future__ import annotations

import math

import numpy as np

from lstm_edge.errors import InvalidInputError
from lstm_edge.tasks.base import generic


class ProjectTask:
    name = "user"
    scored_steps = "all"          # the device scores the whole y against the golden target

    def __init__(self, project, y_batch_axis: int):
        from lstm_edge.runtime.metrics import BUILTIN

        m = project.metric
        self.y_batch_axis = y_batch_axis
        if m.name:
            self.metric, self.fn = m.name, BUILTIN[m.name].fn
            self.lower_is_better, self.portable = BUILTIN[m.name].lower_is_better, True
        else:
            from lstm_edge.byo.load import import_from_file

            file, _, func = m.function.rpartition(":")
            self.metric, self.fn = func, import_from_file(project.path(file), func)
            if not callable(self.fn):
                raise InvalidInputError(f"metric.function {m.function!r}: {func} is not a function")
            self.lower_is_better, self.portable = bool(m.lower_is_better), False
        self.where = f"metric {self.metric!r} of project '{project.name}'"

    def value(self, y: np.ndarray, truth: np.ndarray) -> float:
        from lstm_edge.runtime.metrics import MetricInputError

        try:
            v = self.fn(np.asarray(y), np.asarray(truth))
        except MetricInputError as e:
            raise InvalidInputError(f"{self.where}: {e}", hint="check the evaluation set's y against what forward() returns")
        except Exception as e:   # the user's function: theirs to see
            raise InvalidInputError(f"{self.where} failed on y_pred {np.shape(y)}, y_true {np.shape(truth)}: "
                                    f"{type(e).__name__}: {str(e)[:300]}")
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise InvalidInputError(f"{self.where} returned {type(v).__name__} {v!r}, expected a number") from None
        if not math.isfinite(v):
            raise InvalidInputError(f"{self.where} returned {v}", hint="a metric must be finite to be judged")
        return v

    def score(self, y: np.ndarray, ev: dict) -> dict:
        value = self.value(y, ev["y"])
        n = y.shape[self.y_batch_axis]
        order = np.random.default_rng(0).permutation(n)
        if n > 1 and np.array_equal(order, np.arange(n)):
            order = np.roll(order, 1)
        baseline = self.value(np.take(y, order, axis=self.y_batch_axis), ev["y"])
        beats = value < baseline if self.lower_is_better else value > baseline
        word = "lower" if self.lower_is_better else "higher"
        return generic(self.metric, value, self.lower_is_better, "shuffled predictions", baseline, beats,
                       f"{self.metric} {value:.5g} ({word} is better) vs {baseline:.5g} with the evaluation rows' "
                       f"predictions shuffled" + ("" if beats else
                                                  " — not better: is lower_is_better right, and is the model trained?"))

    def golden_target(self, ev: dict) -> np.ndarray:
        return ev["y"]
