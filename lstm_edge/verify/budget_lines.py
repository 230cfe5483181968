"""Where each budget is written: the line of every [[tolerance]] key and [streaming] budget in a spec or
project file, so a CI annotation points at the line to read (or to change on purpose).

tomllib gives values, not lines, so the file is scanned line by line: a `[[tolerance]]` header opens a row,
`parent = "…"` / `child = "…"` name it, and `atol`, `rtol`, `metric_increase` are located inside it; under
`[streaming]`, the `fp32`, `fp16` and `int8` keys. The lines are used only if the file's budgets are still
the ones the model was verified with (the file may have changed since training): otherwise none is given,
and the report says why.
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

KEY = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")
TOLERANCE_KEYS = ("atol", "rtol", "metric_increase")
STREAMING_KEYS = ("fp32", "fp16", "int8")


def scan(text: str) -> dict:
    """→ {"tolerance": {(parent, child): {"row": line, key: line, …}}, "streaming": {key: line}} (1-based)."""
    rows: dict = {}
    streaming: dict = {}
    section, row = None, None

    def close():
        if row is not None and "parent" in row and "child" in row:
            rows[(row.pop("parent"), row.pop("child"))] = row

    for n, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            close()
            row = None
            section = stripped.split("#")[0].strip().strip("[]").strip()     # "[[tolerance]]" → "tolerance"
            if stripped.startswith("[[tolerance]]"):
                row = {"row": n}
            continue
        m = KEY.match(line)
        if not m:
            continue
        key, value = m.groups()
        if row is not None and key in ("parent", "child"):
            try:
                row[key] = tomllib.loads(f"v = {value}")["v"]
            except tomllib.TOMLDecodeError:
                continue
        elif row is not None and key in TOLERANCE_KEYS:
            row[key] = n
        elif section == "streaming" and key in STREAMING_KEYS:
            streaming[key] = n
    close()
    return {"tolerance": rows, "streaming": streaming}


def locate(path: str | None, tolerances, streaming=None) -> dict | None:
    """report.json's "budget_file": {"path", "lines": {"parent->child": {row, atol, …}, "streaming.fp32": n, …}}
    when the file at `path` (as the user named it at training time) still holds `tolerances` (and the
    `streaming` budgets); "lines": None with a "note" saying why otherwise; None without a path."""
    if not path:
        return None
    file = Path(path)
    if not file.is_file():
        return {"path": path, "lines": None, "note": f"{path} is not here (verify ran elsewhere than training)"}
    try:
        text = file.read_text(encoding="utf-8")
        raw = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        return {"path": path, "lines": None, "note": f"{path} cannot be read as TOML now: {e}"}
    if not same_budgets(raw, tolerances, streaming):
        return {"path": path, "lines": None,
                "note": f"{path} no longer holds the budgets this model was verified with (edited since training)"}
    found = scan(text)
    lines = {f"{p}->{c}": where for (p, c), where in found["tolerance"].items()}
    lines |= {f"streaming.{k}": n for k, n in found["streaming"].items()}
    return {"path": path, "lines": lines}


def same_budgets(raw: dict, tolerances, streaming) -> bool:
    def key(t):
        return (t["parent"], t["child"], t.get("atol"), t.get("rtol"), t.get("metric_increase"))

    file_rows = sorted(key(t) for t in raw.get("tolerance", []) if isinstance(t, dict) and "parent" in t and "child" in t)
    used = sorted(key({"parent": t.parent, "child": t.child, "atol": t.atol, "rtol": t.rtol,
                       "metric_increase": t.metric_increase}) for t in tolerances)
    if file_rows != used:
        return False
    if streaming is None or "streaming" not in raw:
        return True
    written = raw["streaming"]
    return all(list(written[k]) == list(getattr(streaming, k)) for k in STREAMING_KEYS if k in written)
