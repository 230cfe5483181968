"""The series a spec trains on: the built-in generator, or a user's CSV."""
from __future__ import annotations

from pathlib import Path

from lstm_edge.data.csv_loader import load_csv
from lstm_edge.data.sensor import generate_sensor_series
from lstm_edge.data.series import Series
from lstm_edge.errors import UsageError
from lstm_edge.model.spec import Spec


def load_series(spec: Spec, csv: Path | None = None, *, time_column: str | None = None) -> Series:
    d = spec.data
    if csv is not None:
        return load_csv(csv, targets=list(d.targets), features=list(d.features) or None, time_column=time_column,
                        min_rows=d.window + d.horizon, period=d.period)
    if d.source == "csv":
        raise UsageError(f"model spec '{spec.name}' trains on a CSV: pass --data FILE --target COLUMN")
    return generate_sensor_series(days=d.days, seed=d.seed)
