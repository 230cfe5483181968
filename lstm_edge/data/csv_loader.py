"""A user's own series from CSV: strict parsing, every problem named by line and column.

Line numbers count the header as line 1, as an editor shows them.
"""
from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path

import numpy as np

from lstm_edge.data.series import Series
from lstm_edge.errors import InvalidInputError
from lstm_edge.runtime.harness.rows import parse_number

MAGIC = {b"PK\x03\x04": "a zip archive (a PyTorch checkpoint?)", b"\x89HDF": "an HDF5 file",
         b"\x80\x02": "a Python pickle", b"\x93NUMPY": "a NumPy .npy file"}


def load_csv(path, *, targets: list[str], features: list[str] | None = None, time_column: str | None = None,
             label_column: str | None = None, min_rows: int = 2, period: int | None = None) -> Series:
    path = Path(path)
    rows = _read_rows(path)
    header, body = rows[0], rows[1:]
    where = str(path)
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise InvalidInputError(f"{where}: duplicate column name(s) {dupes} in the header (line 1)")
    meta_cols = [c for c in (time_column, label_column) if c]
    for c in (*targets, *(features or []), *meta_cols):
        if c not in header:
            raise InvalidInputError(f"{where}: no column '{c}' (header has: {', '.join(header)})",
                                    hint="check --target / --feature / --time-column")
    for k, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise InvalidInputError(f"{where}: line {k} has {len(row)} fields, the header has {len(header)}")
    if len(body) < min_rows:
        raise InvalidInputError(f"{where}: {len(body)} data rows, at least {min_rows} needed for one window",
                                hint="use a longer series or a smaller data.window")
    if features is None:
        features = [c for c in header if c not in meta_cols and _numeric_column(body, header.index(c))]
    columns = list(features) + [t for t in targets if t not in features]
    values = np.empty((len(body), len(columns)), np.float64)
    for j, name in enumerate(columns):
        values[:, j] = _column(body, header.index(name), name, where)
    std = values.std(axis=0)
    for j, name in enumerate(columns):
        if std[j] == 0:
            raise InvalidInputError(f"{where}: column '{name}' is constant ({values[0, j]:g} on every line): "
                                    "it carries no information and cannot be normalized",
                                    hint="drop it with explicit --feature columns")
    if time_column:
        _check_time(body, header.index(time_column), time_column, where)
    anomaly = _labels(body, header.index(label_column), label_column, where) if label_column else None
    return Series(values.astype(np.float32), tuple(columns), anomaly, period, where)


def _read_rows(path: Path) -> list[list[str]]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInputError(f"{path}: no such file")
    except OSError as e:
        raise InvalidInputError(f"{path}: cannot read: {e.strerror or e}")
    if not raw.strip():
        raise InvalidInputError(f"{path}: the file is empty", hint="a CSV needs a header line and data rows")
    for magic, what in MAGIC.items():
        if raw.startswith(magic):
            raise InvalidInputError(f"{path}: this is {what}, not a CSV")
    if b"\x00" in raw[:65536]:
        raise InvalidInputError(f"{path}: contains NUL bytes: this is a binary file, not a CSV")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InvalidInputError(f"{path}: not UTF-8 text (byte {e.start}): not a CSV, or save it as UTF-8")
    # the csv module splits the lines itself: a quoted field may hold a line break (str.splitlines dropped it)
    rows = [r for r in csv.reader(io.StringIO(text, newline="")) if r]
    if not rows or all(_is_number(c) for c in rows[0]):
        raise InvalidInputError(f"{path}: line 1 must be a header naming the columns")
    return [[c.strip() for c in r] for r in rows]


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _numeric_column(body, j) -> bool:
    """A column is an input if most of its first cells are numbers; a stray bad cell in it is
    then reported by _column (never silently drops the column). Text columns (ids, tags) are skipped."""
    sample = [r[j] for r in body[:50]]
    return sum(_is_number(c) for c in sample) > len(sample) / 2


def _column(body, j: int, name: str, where: str) -> np.ndarray:
    out = np.empty(len(body))
    for k, row in enumerate(body):
        out[k] = parse_number(row[j], where, k + 2, name)
    return out


def _check_time(body, j: int, name: str, where: str) -> None:
    prev = None
    for k, row in enumerate(body):
        cell = row[j]
        try:
            t = float(cell)
        except ValueError:
            try:
                t = datetime.fromisoformat(cell).timestamp()
            except ValueError:
                raise InvalidInputError(f"{where}: line {k + 2}, column '{name}' is '{cell[:30]}': "
                                        "expected a number or an ISO-8601 timestamp")
        if prev is not None and t <= prev:
            raise InvalidInputError(f"{where}: line {k + 2}, column '{name}': timestamp {cell} does not increase "
                                    f"(previous line has {body[k - 1][j]})", hint="sort the file by time and drop duplicates")
        prev = t


def _labels(body, j: int, name: str, where: str) -> np.ndarray:
    truth = {"1": True, "0": False, "true": True, "false": False}
    out = np.zeros(len(body), bool)
    for k, row in enumerate(body):
        v = truth.get(row[j].lower())
        if v is None:
            raise InvalidInputError(f"{where}: line {k + 2}, column '{name}' is '{row[j][:30]}': expected 0/1 or true/false")
        out[k] = v
    return out
