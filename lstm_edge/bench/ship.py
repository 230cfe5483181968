"""Which artefact to ship, per target, from one bench run (bench.json): the table `lstm-edge bench` ends
with and writes into the directory's report.md.

Targets and what runs there:

    ONNX Runtime (desktop, server)   .onnx artefacts on onnxruntime
    ONNX Runtime Mobile (ORT format) the bundle's .ort conversions (bundle/*.ort), on onnxruntime
    LiteRT (Android, embedded Linux) .tflite artefacts on LiteRT
    TensorFlow Lite Micro            none yet: it runs integer graphs only, and no full-integer recipe is published

Every artefact in the directory met its budgets where it was made (a refused recipe leaves no file), so
each is a candidate. Per target the table marks the ones to ship for latency — for whole sequences
(lowest median of the sequence scenario, B = 1, T = 100; a step artefact is stepped through it) and for
streaming (the step scenario: one step per call, state carried) — and the one for size (fewest bytes).
A recipe slower than its fp32 parent in the same run (by more than SLOWER, the noise this shared machine shows
between rounds) is flagged, with its size against the parent; "no smaller in a way that
matters" when it keeps more than MATTERS of the parent's bytes.
"""
from __future__ import annotations

from pathlib import Path

SLOWER = 1.05
MATTERS = 0.75
TARGETS = (("ONNX Runtime (desktop, server)", lambda r: r["format"] == "onnx"),
           ("ONNX Runtime Mobile (ORT format)", lambda r: r["format"] == "ort"),
           ("LiteRT (Android, embedded Linux)", lambda r: r["runtime"] == "litert"))
NOT_BUILT = {"TensorFlow Lite Micro": "no artefact: TFLM runs integer graphs only, and no full-integer recipe is "
                                      "published for this model (see refusals.json)"}
MARKERS = ("<!-- ship -->", "<!-- /ship -->")


def _median(r: dict, sc: str) -> float | None:
    s = r["scenarios"].get(sc)
    return s["median_ms"] if s else None


def slower_than_parent(doc: dict) -> list[dict]:
    """Recipes slower than their fp32 parent in any scenario of this run (step, sequence, throughput)."""
    by_name = {r["name"]: r for r in doc["results"]}
    out = []
    for r in doc["results"]:
        parent = by_name.get(r.get("parent") or "")
        if not r.get("recipe") or parent is None:
            continue
        if r["format"] == "ort":                          # an .ort recipe's parent is its format's fp32 .ort
            parent = by_name.get(f"{r['parent']}.ort", parent)
        slower = [(sc, _median(r, sc) / _median(parent, sc)) for sc in ("step", "sequence", "throughput")
                  if _median(r, sc) and _median(parent, sc) and _median(r, sc) > SLOWER * _median(parent, sc)]
        if slower:
            size = r["size_bytes"] / parent["size_bytes"]
            out.append({"name": r["name"], "parent": parent["name"], "scenario": slower[0][0], "ratio": slower[0][1],
                        "where": ", ".join(f"{ratio:.2f}× on {sc}" for sc, ratio in slower),
                        "size_ratio": size, "smaller_matters": size <= MATTERS,
                        "cause": next((c for c in (_cause(r, sc) for sc, _ in slower) if c), "")})
    return out


def _cause(r: dict, sc: str) -> str:
    """What onnxruntime's own profile says the extra time is: the Q/DQ pairs a QDQ model runs around ops that
    stay float (onnx-int8-static: the LSTM op itself is float, so its activations are quantized and dequantized
    on every call for nothing)."""
    ops = r["scenarios"][sc].get("profile_us_per_call") or {}
    qdq = sum(us for op, us in ops.items() if op in ("QuantizeLinear", "DequantizeLinear"))
    total = sum(ops.values())
    return f"; QuantizeLinear/DequantizeLinear take {qdq:.0f} µs ({100 * qdq / total:.0f} %) of its op time" if qdq else ""


def shipping(doc: dict) -> list[dict]:
    """[{target, rows: [{name, precision, size_kib, step_us, sequence_us, throughput_steps_s, marks}], note}]."""
    slow = {s["name"]: s for s in slower_than_parent(doc)}
    tables = []
    for target, takes in TARGETS:
        rows = [r for r in doc["results"] if not r["floor"] and r["runtime"] != "pytorch" and r.get("format") and takes(r)]
        if not rows:
            continue
        best = {}
        for sc, mark in (("sequence", "ship for sequences"), ("step", "ship for streaming")):
            timed = [r for r in rows if _median(r, sc)]
            if timed:
                best[min(timed, key=lambda r: _median(r, sc))["name"], mark] = True
        best[min(rows, key=lambda r: r["size_bytes"])["name"], "ship for size"] = True
        out = []
        for r in sorted(rows, key=lambda r: (_median(r, "sequence") or float("inf"), _median(r, "step") or 0)):
            marks = [m for (name, m) in best if name == r["name"]]
            if r["name"] in slow:
                s = slow[r["name"]]
                marks.append(f"slower than {s['parent']} ({s['where']}) at {s['size_ratio']:.2f}× its size"
                             + ("" if s["smaller_matters"] else ", no smaller in a way that matters") + s["cause"])
            out.append({"name": r["name"] + (" (stepped)" if r["stepped"] else ""), "precision": r["precision"],
                        "size_kib": r["size_bytes"] / 1024, "step_us": _us(r, "step"), "sequence_us": _us(r, "sequence"),
                        "throughput_steps_s": (r["scenarios"]["throughput"]["steps_per_s"]
                                               if "throughput" in r["scenarios"] else None), "marks": marks})
        tables.append({"target": target, "rows": out})
    return tables


def _us(r: dict, sc: str) -> float | None:
    m = _median(r, sc)
    return None if m is None else m * 1e3


def markdown(doc: dict) -> str:
    sc = doc["settings"]["scenarios"]
    lines = ["## Which artefact to ship", "",
             f"Per target, every artefact here that met its budgets, from one bench run ({doc['settings']['threads']} "
             f"thread(s)): latency at B = 1 per step (stepped, state carried) and per sequence "
             f"(T = {sc.get('sequence', {}).get('time', '—')}, one call), throughput at B = "
             f"{sc.get('throughput', {}).get('batch', '—')}. A scenario not run shows —.", ""]
    for t in shipping(doc):
        lines += [f"### {t['target']}", "", "| artefact | precision | size KiB | step µs | sequence µs | steps/s at B = 64 "
                  "| |", "|---|---|---|---|---|---|---|"]
        for r in t["rows"]:
            lines.append(f"| {r['name']} | {r['precision']} | {r['size_kib']:.0f} | {_fmt(r['step_us'])} | "
                         f"{_fmt(r['sequence_us'])} | {_fmt(r['throughput_steps_s'], ',.0f')} | {'; '.join(r['marks'])} |")
        lines.append("")
    note = litert_note(doc)
    if note:
        lines += [note, ""]
    for target, why in NOT_BUILT.items():
        lines += [f"### {target}", "", why, ""]
    return "\n".join(lines)


def litert_note(doc: dict) -> str | None:
    """Why `export --format tflite` writes two sequence artefacts, and which one lstm-edge ships by default,
    from this run's figures."""
    by_name = {r["name"]: r for r in doc["results"]}
    seq, fused = by_name.get("tflite-seq-fp32"), by_name.get("tflite-fp32")
    if not seq or not fused:
        return None
    ratios = {label: _median(fused, sc) / _median(seq, sc) for sc, label in (("sequence", "B = 1"), ("throughput", "B = 64"))
              if _median(seq, sc) and _median(fused, sc)}
    if not ratios:
        return None
    figures = ", ".join(f"{v:.2f}× at {k}" for k, v in ratios.items())
    verdict = ("it is the LiteRT artefact lstm-edge recommends on CPU" if min(ratios.values()) >= 1 else
               "in this run it is not faster everywhere: pick by the table above")
    return ("LiteRT: `export --format tflite` writes both sequence forms. **tflite-seq-fp32** (the cell as builtin ops "
            f"XNNPACK takes, in chunks): the fused kernel takes {figures} its time in this run; it returns the "
            f"cell state, so it also streams; {verdict}. **tflite-fp32** (the fused UNIDIRECTIONAL_SEQUENCE_LSTM) "
            "stays: it is the op TFLite Micro, NPU compilers and vendor delegates know, and it is smaller "
            f"({fused['size_bytes'] / 1024:.0f} vs {seq['size_bytes'] / 1024:.0f} KiB: the chunk is unrolled).")


def _fmt(v, spec: str = ".1f") -> str:
    return "—" if v is None else format(v, spec)


def summary_lines(doc: dict) -> list[str]:
    """The CLI's closing lines: what to ship per target, and every recipe slower than its parent."""
    out = []
    for t in shipping(doc):
        picks = {m: r["name"] for r in t["rows"] for m in r["marks"] if m.startswith("ship for")}
        out.append(f"{t['target']}: ship " + ", ".join(f"{picks[m]} {m[5:]}" for m in
                                                       ("ship for sequences", "ship for streaming", "ship for size") if m in picks))
    for s in slower_than_parent(doc):
        out.append(f"{s['name']} is slower than its parent {s['parent']} ({s['where']}) at "
                   f"{s['size_ratio']:.2f}× its size" + ("" if s["smaller_matters"] else ": no smaller in a way that matters")
                   + s["cause"])
    return out


def write_into_report(directory: Path, doc: dict) -> Path | None:
    """Put the section into DIR/report.md (replacing the previous one); None if there is no report.md."""
    from lstm_edge.files import write_bytes_atomic

    path = Path(directory) / "report.md"
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    section = f"{MARKERS[0]}\n{markdown(doc)}\n{MARKERS[1]}\n"
    if MARKERS[0] in text and MARKERS[1] in text:
        head, rest = text.split(MARKERS[0], 1)
        text = head + section + rest.split(MARKERS[1], 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    write_bytes_atomic(path, text.encode())
    return path
