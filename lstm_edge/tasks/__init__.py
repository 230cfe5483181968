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

from lstm_edge.model.spec import TASK_OF_SOURCE   # the spec validates data.source against it


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
