"""The README's "Your model, end to end" figures, from the run `make your-model` made.

    python tools/your_model_figures.py [--readme README.md] [--check] OUT_DIR...   (one column each)

Reads each output directory's report.json (and the device check the bundle recorded in its manifest)
and rewrites the table between <!-- your-model --> and <!-- /your-model --> in the README. Missing
inputs or markers are refused by name (exit 2); --check writes nothing and exits 1 if the table is stale.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REGION = re.compile(r"(<!-- your-model -->\n)(.*?)(<!-- /your-model -->)", re.S)


def column(out: Path) -> dict[str, str]:
    report = json.loads((out / "report.json").read_text())
    manifest = json.loads((out / "bundle" / "manifest.json").read_text())
    st = {s["name"]: s for s in report["stages"]}
    root = st["pytorch"]["metrics"]

    def worst(name: str) -> str:
        s = st.get(name)
        return "—" if s is None else f"{max(o['max_abs'] for o in s['outputs'].values()):.1e}"

    published = [f"{s['name']} ({s['size_ratio']:.2f}×, {s['metrics']['metric']} {s['metrics']['value']:.4g})"
                 for s in report["stages"] if s.get("recipe") and s["passed"]]
    refused = []
    for r in report["refusals"]:
        ok = [a for a in r["attempts"] if a["result"] == "ok"]
        why = (f"{r['metric']} {100 * r['val_metric_increase']:+.1f} %, budget {100 * r['budget_metric_increase']:+.0f} %"
               if ok else r["attempts"][0]["result"].split(" (the rest")[0].split(":")[0])
        refused.append(f"{r['recipe']} ({why})")
    drift = [f"{d['stage']} {max(d['drift'][-1]['y'], d['drift'][-1]['h']):.0e}" for d in report["streaming"]
             if d["precision"] == "fp32"]
    checks = manifest.get("host_check", [])
    tfl = json.loads((out / "tflite-fp32.tflite.json").read_text()) if (out / "tflite-fp32.tflite.json").is_file() else {}
    return {"model": f"{report['model']}",
            "pytorch": f"{root['metric']} {root['value']:.4g} (rows shuffled: {root['baseline']:.4g})",
            "fp32": f"ONNX {worst('onnx-fp32')}, TFLite {worst('tflite-fp32')}, step {worst('tflite-step-fp32')}",
            "published": ", ".join(published) or "—", "refused": ", ".join(refused) or "—",
            "drift": ", ".join(drift) or _not_streamed(out),
            "tflite": _tflite_path(tfl),
            "device": f"{sum(c['status'] == 'pass' for c in checks)} of {len(checks)} artefacts pass"}


def _not_streamed(out: Path) -> str:
    why = json.loads((out / "model.json").read_text()).get("streaming", {}).get("why") if (out / "model.json").is_file() else None
    return f"not streamed: {why.split(' (')[0].split(';')[0].split(': ')[0]}" if why else "—"


def _tflite_path(tfl: dict) -> str:
    """The TFLite sequence artefact's path, its kernel, the T it takes and its latency at B = 1 (its sidecar)."""
    if not tfl:
        return "—"
    ops = tfl.get("ops", {})
    kernel = ("fused UNIDIRECTIONAL_SEQUENCE_LSTM" if "UNIDIRECTIONAL_SEQUENCE_LSTM" in ops else
              "builtin WHILE" if "WHILE" in ops else "unrolled builtins")
    takes = "any T" if tfl.get("fixed_time_steps") is None else f"T = {tfl['fixed_time_steps']} only"
    latency = f", {tfl['latency_us_B1']:.0f} µs at B = 1" if tfl.get("latency_us_B1") else ""
    return f"{tfl.get('path_taken')} ({kernel}), {takes}{latency}"


ROWS = (("PyTorch on the evaluation set", "pytorch"), ("fp32 max \\|Δ\\| vs PyTorch", "fp32"),
        ("TFLite path, latency at the example's T (export check)", "tflite"),
        ("quantized, published", "published"), ("refused, with figures", "refused"),
        ("streaming drift at n = 10 000 (fp32, max of y and h)", "drift"), ("bundle's device check", "device"))


def table(dirs: list[Path]) -> str:
    cols = [column(d) for d in dirs]
    lines = ["| | " + " | ".join(c["model"] for c in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    return "\n".join(lines + [f"| {label} | " + " | ".join(c[k] for c in cols) + " |" for label, k in ROWS]) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dirs", type=Path, nargs="+", help="pipeline output directories, one column each")
    ap.add_argument("--readme", type=Path, default=ROOT / "README.md")
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args(argv)
    for d in a.dirs:
        for f in ("report.json", "bundle/manifest.json"):
            if not (d / f).is_file():
                print(f"your_model_figures: {d / f} is missing (make your-model writes it)", file=sys.stderr)
                return 2
    old = a.readme.read_text(encoding="utf-8")
    if len(REGION.findall(old)) != 1:
        print(f"your_model_figures: {a.readme} needs one <!-- your-model --> … <!-- /your-model --> region", file=sys.stderr)
        return 2
    new = REGION.sub(lambda m: m[1] + table(a.dirs) + m[3], old)
    if a.check:
        print(f"{a.readme}: your-model figures {'up to date' if new == old else 'stale'}")
        return 0 if new == old else 1
    a.readme.write_text(new, encoding="utf-8")
    print(f"{a.readme}: your-model figures written from {', '.join(map(str, a.dirs))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
