"""A time series as the data modules hand it on: rows, column names, labels, period, source."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lstm_edge.errors import InvalidInputError


@dataclass(frozen=True)
class Series:
    values: np.ndarray                 # (N, C) float32, time-ordered rows
    columns: tuple[str, ...]           # (C,) channel names
    anomaly: np.ndarray | None         # (N,) bool labels; None when unknown
    period: int | None                 # dominant seasonal period in steps (24 for hourly data)
    source: str                        # "sensor-generator seed=0 days=180" or the CSV path

    def column_index(self, name: str) -> int:
        if name not in self.columns:
            raise InvalidInputError(f"{self.source}: no column '{name}' (available: {', '.join(self.columns)})",
                                    hint="check --target/--feature or data.targets/data.features in the spec")
        return self.columns.index(name)
