"""Compare device bench results (JSON from `python -m lstm_edge.runtime bench`) side by side.

    python -m lstm_edge.runtime compare pi.json laptop.json

One row per artefact, one column group per file: p50 and p99 of a sequence call and of a
streaming step, peak RSS, and each p50 as a ratio to the first file's (the baseline). A result
measured under emulation (device "emulated") is shown but never compared: its times are the
emulator's, not a latency.
"""
from __future__ import annotations

import json
from pathlib import Path

from lstm_edge.errors import InvalidInputError


def load_results(paths: list[Path]) -> list[dict]:
    from lstm_edge.runtime.harness.bench import validate_bench

    docs = []
    for p in paths:
        try:
            doc = json.loads(Path(p).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InvalidInputError(f"{p}: no such file")
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InvalidInputError(f"{p}: not valid JSON: {e}")
        problems = validate_bench(doc) if isinstance(doc, dict) else ["not a JSON object"]
        if problems:
            raise InvalidInputError(f"{p}: not a bench result: {'; '.join(problems[:5])}",
                                    hint="produce it with: python -m lstm_edge.runtime bench BUNDLE --out FILE")
        docs.append(doc)
    return docs


def label(doc: dict, path) -> str:
    d = doc["device"]
    emulated = f"; emulated ({d['emulated']}): not a latency, not compared" if d.get("emulated") else ""
    return f"{Path(path).stem} ({d['machine']}, {d['cpu_count']} cpu, {doc['settings']['threads']} thr{emulated})"


def compare_rows(docs: list[dict]) -> tuple[list[str], list[list[str]]]:
    header = ["artefact"]
    for k in range(len(docs)):
        header += [f"[{k}] seq p50 ms", f"[{k}] seq p99", f"[{k}] step p50 ms", f"[{k}] step p99", f"[{k}] RSS MB"]
        if k:
            header += [f"[{k}]/[0] seq", f"[{k}]/[0] step"]
    by_file = [{r["artifact"]: r for r in d["results"] if "skipped" not in r} for d in docs]
    emulated = [bool(d["device"].get("emulated")) for d in docs]
    names = list(dict.fromkeys(n for b in by_file for n in b))
    rows = []
    for n in names:
        row = [n]
        base = by_file[0].get(n)
        for k, b in enumerate(by_file):
            r = b.get(n)
            seq, step = (r or {}).get("sequence"), (r or {}).get("step")
            row += [_ms(seq, "p50_ms"), _ms(seq, "p99_ms"), _ms(step, "p50_ms"), _ms(step, "p99_ms"),
                    f"{r['peak_rss_mb']:.0f}" if r else "—"]
            if k:
                fair = not (emulated[0] or emulated[k])
                row += [_ratio(r, base, "sequence") if fair else "—", _ratio(r, base, "step") if fair else "—"]
        rows.append(row)
    return header, rows


def _ms(part, key) -> str:
    return f"{part[key]:.3f}" if part else "—"


def _ratio(r, base, part) -> str:
    if not r or not base or not r.get(part) or not base.get(part):
        return "—"
    return f"{r[part]['p50_ms'] / base[part]['p50_ms']:.2f}×"


def render(paths: list[Path]) -> str:
    """The comparison as text: a legend line per file, then the table."""
    from lstm_edge.runtime.harness.verify import format_table

    docs = load_results(paths)
    legend = [f"[{k}] {label(doc, path)}" for k, (doc, path) in enumerate(zip(docs, paths))]
    return "\n".join(legend + [format_table(*compare_rows(docs))])
