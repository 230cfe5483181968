"""Write the README's figures from a real run, so they are measured, not typed.

Inputs (all from one machine; each missing one is refused by name):

    --console   what `make demo` printed (`make readme-figures` saves it as artifacts/sensor.console).
                Kept as printed from lstm-edge's first `·` progress line to "wrote the device
                bundle …" and the `·` notes right after it; of the progress lines between the
                training bar and the first table only the first is kept, the rest counted as elided.
                Make's and pip's lines before it, and earlier runs in the same file, are dropped.
    --report    artifacts/sensor/report.json of that run: the console must show its test metrics,
                or the two are from different runs and nothing is written.
    --bench     artifacts/sensor/bench.json      (`lstm-edge bench artifacts/sensor`)
    --throughput-bench  artifacts/throughput/bench.json  (`… bench artifacts/throughput --scenario throughput`)

Markers (HTML comments: invisible on GitHub). Only what lies between a pair changes:

    <!-- figures:NAME -->            a block: the content (a fenced block, a table) starts on
    …                                the next line; whitespace around it is kept
    <!-- /figures:NAME -->
    text <!-- figures:NAME -->1.98 µs<!-- /figures:NAME --> text     inline, never at a line start

Every NAME that figures() fills must be in the README exactly once, balanced and not nested; a NAME the
script does not know is refused too. `--check` writes nothing: exit 1 with a diff if the README
would change. `--keep-bench` leaves the bench figures (BENCH) as they are and needs no bench.json.
Exit 2: an input or a marker is missing or wrong (the message names it).
"""
from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARK = re.compile(r"<!-- (/?)figures:([a-z0-9-]+) -->")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Refused(Exception):
    pass


def load_json(path: Path) -> dict:
    if not path.is_file():
        raise Refused(f"{path}: missing (make demo, then make bench, write it)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise Refused(f"{path}: not JSON ({e})") from None


def pct(x: float, digits: int = 2) -> str:
    """0.0011 → '+0.11 %', with a real minus sign, as the README writes a change."""
    return f"{100 * x:+.{digits}f} %".replace("-", "−")


def us(ms: float, digits: int = 1) -> str:
    return f"{ms * 1e3:.{digits}f} µs"


# --- the console of make demo ------------------------------------------------------------------

def demo_console(text: str, path: Path, report: dict, report_path: Path) -> str:
    lines = [ANSI.sub("", line.split("\r")[-1]).rstrip() for line in text.splitlines()]
    ends = [i for i, line in enumerate(lines) if line.startswith("wrote the device bundle")]
    if not ends:
        raise Refused(f"{path}: no 'wrote the device bundle' line: not the console of a finished make demo")
    end, prev = ends[-1], (ends[-2] if len(ends) > 1 else -1)
    start = next((i for i in range(prev + 1, end) if lines[i].startswith("· ")), None)
    box = next((i for i in range(end if start is None else start, end) if lines[i].startswith("┏")), None)
    if start is None or box is None:
        raise Refused(f"{path}: no '· ' progress line or no table before 'wrote the device bundle'")
    bar = start + 1
    while bar < box and not lines[bar].startswith("· "):   # the training note and its bar
        bar += 1
    top = box - 1 if box - 1 >= bar and lines[box - 1].strip() and not lines[box - 1].startswith("· ") else box
    tail = end + 1
    while tail < len(lines) and lines[tail].startswith("· "):
        tail += 1
    elided = lines[bar:top]
    kept = (lines[start:bar] + ([f"{elided[0]} … ({len(elided) - 1} more progress lines elided)"] if elided else [])
            + lines[top:tail])
    shown = {m[1]: m[3] for m in (re.match(r"^  (\S+)\s+test (\S+) (\S+)$", line) for line in kept) if m}
    for stage in report["stages"][1:]:
        want = f"{stage['metrics']['value']:.5f}"
        if shown.get(stage["name"]) != want:
            raise Refused(f"{path} and {report_path} are from different runs: {stage['name']} test metric "
                          f"{shown.get(stage['name'])} on the console, {want} in the report; "
                          f"remove {path} and run make readme-figures")
    return "```\n" + "\n".join(kept) + "\n```"


# --- report.json: quantization ----------------------------------------------------------------

def quant_column(old: str, report: dict, path: Path) -> str:
    """The last cell ("on this model") of each recipe row of the README's recipe table."""
    stages = {s["recipe"]: s for s in report["stages"] if s.get("recipe")}
    refused = {r["recipe"]: r for r in report["refusals"]}
    label = report["forecast"]["metric"].split("_")[0].upper()
    out, seen = [], set()
    for line in old.split("\n"):
        m = re.match(r"^\| `([^`]+)` \|(.*)\| [^|]*\|$", line)
        if not m:
            out.append(line)
            continue
        name = m[1]
        if name in stages:
            s = stages[name]
            cell = (f"{s['size_ratio']:.2f}×" + (" size, " + label + " " if not seen else ", ")
                    + pct(s["metric_check"]["increase"]))
        elif name in refused:
            r = refused[name]
            cell = "refused: " + (pct(r["val_metric_increase"], 1) if r["best_val_metric"] is not None
                                  else "does not run")
        else:
            raise Refused(f"README recipe table: `{name}` is neither a stage nor a refusal in {path}")
        seen.add(name)
        out.append(f"| `{name}` |{m[2]}| {cell} |")
    missing = sorted((stages.keys() | refused.keys()) - seen)
    if missing:
        raise Refused(f"README recipe table: no row for {missing}, recipes of {path}")
    return "\n".join(out)


def report_figures(report: dict) -> dict[str, str]:
    static = next(s for s in report["stages"] if s.get("recipe") == "onnx-int8-static")
    y = next(o for c in static["cases"] if c["case"] == "test-windows" for o in c["outputs"] if o["output"] == "y")
    fp32 = [d for r in report["streaming"] if r["precision"] == "fp32" for d in r["drift"] if d["horizon"] == 10000]
    dyn = next(r for r in report["streaming"] if r["stage"] == "onnx-int8-dynamic")
    f = report["forecast"]
    return {"cases": str(len(report["cases"])), "test-windows": str(f["test_windows"]),
            "int8-loss": f"{100 * next(r for r in report['refusals'] if r['recipe'] == 'tflite-int8')['val_metric_increase']:.0f} %",
            "static-worst": f"{y['max_abs']:.2f}", "static-metric": pct(static["metric_check"]["increase"]),
            "fp32-drift": f"{max(max(d['y'], d['h'], d['c']) for d in fp32):.0e}",
            "dynamic-stepped": f"{max(dyn['equivalence_max_abs'].values()):.0e}",
            "persistence": f"{f['persistence_mae_std_units']:.2f}", "task-mae": f"{f['value']:.2f}"}


# --- bench.json: targets and the profiles -----------------------------------------------------

def by(doc: dict, name: str) -> dict:
    return next(r for r in doc["results"] if r["name"] == name)


def arts(doc: dict, sc: str, precision: str = "") -> list[dict]:
    return [r for r in doc["results"] if r["runtime"] != "pytorch" and not r["floor"] and sc in r["scenarios"]
            and r["precision"].startswith(precision)]


def med(r: dict, sc: str) -> float:
    return r["scenarios"][sc]["median_ms"]


def fastest(doc: dict, sc: str) -> dict:
    return min(arts(doc, sc), key=lambda r: med(r, sc))


def share(r: dict, sc: str) -> str:
    """The LSTM op's share of the onnxruntime profile: "`LSTM` op is 85 %"."""
    ops = r["scenarios"][sc].get("profile_us_per_call") or {}
    lstm = [k for k in ops if "LSTM" in k]
    if not lstm:
        raise Refused(f"bench.json: no onnxruntime profile with an LSTM op for {r['name']} ({sc}), which the README "
                      "explains: rewrite that prose")
    return f"`{lstm[0]}` op is {100 * ops[lstm[0]] / sum(ops.values()):.0f} %"


def bench_figures(doc: dict, tp: dict) -> dict[str, str]:
    torch, seq = by(doc, "pytorch-eager"), fastest(doc, "sequence")
    floor, T = by(doc, f"floor:{seq['runtime']}"), doc["settings"]["scenarios"]["sequence"]["time"]
    goal = next(t["goal"] for t in doc["targets"] if t["target"].startswith("sequence"))
    per_step = lambda ms: f"{ms * 1e3 / T:.2f}"  # noqa: E731
    b32 = max(arts(tp, "throughput", "fp32"), key=lambda r: r["scenarios"]["throughput"]["gflops"])
    b8 = max(arts(tp, "throughput", "int8"), key=lambda r: r["scenarios"]["throughput"]["steps_per_s"])
    g32, shape, peak = b32["scenarios"]["throughput"]["gflops"], tp["sgemm"]["lstm_shape"], tp["sgemm"]["gflops"]
    ttorch = by(tp, "pytorch-eager")["scenarios"]["throughput"]
    return {"sgemm": f"N = {tp['sgemm']['n']}: {peak:.0f} GFLOP/s",
            "seq-share": share(seq, "sequence"), "seq-floor": us(med(floor, "sequence"), 0),
            "seq-step": f"{per_step(med(seq, 'sequence') - med(floor, 'sequence'))} µs",
            "seq-torch-step": per_step(med(torch, "sequence")),
            "seq-goal-step": f"{per_step(med(torch, 'sequence') / goal - med(floor, 'sequence'))} µs",
            "seq-fused": us(med(by(doc, "tflite-fp32"), "sequence"), 0),
            "stepper": us(med(by(doc, "tflite-step-fp32"), "step"), 0),
            "tp-share": share(b32, "throughput"),
            "tp-shape": f"({shape['m']} × {shape['k']})·({shape['k']} × {shape['n']})",
            "tp-shape-gflops": f"{shape['gflops']:.1f} GFLOP/s ({100 * shape['gflops'] / peak:.0f} % of its "
                               f"N = {tp['sgemm']['n']} peak)",
            "tp-achieves": f"{100 * g32 / shape['gflops']:.0f} %",
            "tp-torch": f"{ttorch['gflops']:.0f} GFLOP/s ({100 * ttorch['gflops'] / peak:.0f} %), "
                        + ("faster than every" if ttorch["gflops"] > g32 else "slower than the best") + " fp32 artefact",
            "tp-int8-torch": f"{b8['scenarios']['throughput']['steps_per_s'] / ttorch['steps_per_s']:.1f}×"}


# the misses the README's prose explains ("Why the two misses"); another set needs new prose
EXPLAINED = {"sequence: best artefact vs PyTorch eager", "throughput: best fp32 artefact vs sgemm"}


def bench_targets(doc: dict, tp: dict) -> str:
    """The README's target table: one row per target of the two runs (size: one row for both)."""
    rows: dict[str, list] = {}
    for d in (doc, tp):
        for t in d["targets"]:
            rows.setdefault(t["target"], []).append((d, t))
    missed = {t["target"] for d in (doc, tp) for t in d["targets"] if not t["met"]}
    if missed != EXPLAINED:
        raise Refused(f"the bench runs miss {sorted(missed)}, the README explains {sorted(EXPLAINED)}: a noisy "
                      "machine (rerun make bench) or a change to explain in prose (then update EXPLAINED)")
    out = ["| target | measured | goal | verdict |", "|---|---|---|---|"]
    order = ("step", "sequence", "throughput", "size")
    for name, runs in sorted(rows.items(), key=lambda kv: order.index(kv[0].split(":")[0]) if kv[0].split(":")[0] in order else 9):
        d, t = runs[0]
        unit = "" if name.startswith(("size", "throughput: best fp32")) else "×"
        sc, sign = name.split(":")[0], "≤" if "floor" in name or name.startswith("size") else "≥"
        label = name
        if sc in ("step", "sequence") and "floor" not in name:
            best, digits, s = fastest(d, sc), 1 if sc == "step" else 0, d["settings"]["scenarios"][sc]
            label = ("step: best artefact vs a PyTorch eager step" if sc == "step" else
                     f"sequence (B = {s['batch']}, T = {s['time']}):" + name.split(":", 1)[1])
            why = f"{best['name']} {us(med(best, sc), digits)}, PyTorch {us(med(by(d, 'pytorch-eager'), sc), digits)}"
        elif "floor" in name:
            why = f"floor {us(med(by(d, 'floor:' + fastest(d, 'step')['runtime']), 'step'))}"
        elif sc == "throughput":
            p = "fp32" if "fp32 artefact vs" in name else "int8"
            best = max(arts(d, "throughput", p), key=lambda r: r["scenarios"]["throughput"]["gflops"])
            label = f"throughput (H = {d['dims']['hidden_size']}):" + name.split(":", 1)[1].replace(" artefact vs best", " vs best")
            why = f"{best['name']} {best['scenarios']['throughput']['gflops']:.0f} GFLOP/s" + ("-equivalent" if p == "int8" else "")
        else:
            why = ", ".join(f"{t['value']:.2f} (H = {d['dims']['hidden_size']})" for d, t in runs)
        value = f"{t['value']:.3g}×" if unit else f"{t['value']:.2f}"
        measured = why if len(runs) > 1 else f"{value} ({why})"
        goal = f"{sign} {t['goal']:.2f}" if not unit else f"{sign} {t['goal']:g}×"
        met = all(t["met"] for _, t in runs)
        out.append(f"| {label} | {measured} | {goal} | {'met' if met else '**missed**'} |")
    return "\n".join(out)


# --- the README -------------------------------------------------------------------------------

def regions(text: str, path: Path) -> list[tuple[str, int, int]]:
    """(name, start, end) of each marked region's content; refuses unbalanced, nested, repeated markers."""
    found, open_ = [], None
    for m in MARK.finditer(text):
        closing, name = m[1] == "/", m[2]
        line = text.count("\n", 0, m.start()) + 1
        if not closing and open_ is not None:
            raise Refused(f"{path}:{line}: <!-- figures:{name} --> inside the unclosed <!-- figures:{open_[0]} -->")
        if closing and (open_ is None or open_[0] != name):
            raise Refused(f"{path}:{line}: <!-- /figures:{name} --> closes no open <!-- figures:{name} -->")
        if closing:
            found.append((name, open_[1], m.start()))
            open_ = None
        elif any(n == name for n, _, _ in found):
            raise Refused(f"{path}:{line}: <!-- figures:{name} --> a second time")
        else:
            open_ = (name, m.end())
    if open_ is not None:
        raise Refused(f"{path}: <!-- figures:{open_[0]} --> is never closed by <!-- /figures:{open_[0]} -->")
    return found


def fill(text: str, path: Path, figures: dict) -> str:
    found = regions(text, path)
    names = {n for n, _, _ in found}
    for missing in sorted(figures.keys() - names):
        raise Refused(f"{path}: no <!-- figures:{missing} --> … <!-- /figures:{missing} --> marker")
    for unknown in sorted(names - figures.keys()):
        raise Refused(f"{path}: <!-- figures:{unknown} --> is not a figure this script writes")
    for name, start, end in reversed(found):
        content = text[start:end]
        core = content.strip()
        lead, trail = content[:len(content) - len(content.lstrip())], content[len(content.rstrip()):]
        marker = start - len(f"<!-- figures:{name} -->")
        if "\n" not in lead and len(text[text.rfind("\n", 0, marker) + 1:marker].lstrip(" ")) == 0:
            raise Refused(f"{path}: inline <!-- figures:{name} --> starts a line (Markdown would make it an HTML block)")
        new = figures[name](core) if callable(figures[name]) else figures[name]
        text = text[:start] + lead + new + trail + text[end:]
    return text


BENCH = ("bench-targets", "sgemm", "seq-share", "seq-floor", "seq-step", "seq-torch-step", "seq-goal-step",
         "seq-fused", "stepper", "tp-share", "tp-shape", "tp-shape-gflops", "tp-achieves", "tp-torch", "tp-int8-torch")


def figures(console: Path, report_path: Path, bench: Path, throughput_bench: Path, keep_bench=False) -> dict:
    """{marker name: its new content, or a function of the old content} from the run's files."""
    if not console.is_file():
        raise Refused(f"{console}: missing (make readme-figures saves make demo's console there)")
    report = load_json(report_path)
    doc, tp = (None, None) if keep_bench else (load_json(bench), load_json(throughput_bench))
    text = console.read_text(encoding="utf-8", errors="replace")
    try:
        return ({"demo-console": demo_console(text, console, report, report_path),
                 "quant-column": lambda old: quant_column(old, report, report_path)} | report_figures(report)
                | ({n: (lambda old: old) for n in BENCH} if keep_bench else
                   {"bench-targets": bench_targets(doc, tp)} | bench_figures(doc, tp)))
    except (KeyError, StopIteration, IndexError, TypeError, ValueError, ZeroDivisionError) as e:
        raise Refused(f"{report_path}, {bench} or {throughput_bench}: not the expected schema "
                      f"({type(e).__name__}: {e})") from None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--readme", type=Path, default=ROOT / "README.md")
    ap.add_argument("--console", type=Path, default=ROOT / "artifacts/sensor.console")
    ap.add_argument("--report", type=Path, default=ROOT / "artifacts/sensor/report.json")
    ap.add_argument("--bench", type=Path, default=ROOT / "artifacts/sensor/bench.json")
    ap.add_argument("--throughput-bench", type=Path, default=ROOT / "artifacts/throughput/bench.json")
    ap.add_argument("--keep-bench", action="store_true", help="leave the bench figures as they are (a machine "
                    "whose bench the README's prose does not describe); the rest from the run")
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 with a diff if the README would change")
    a = ap.parse_args(argv)
    try:
        if not a.readme.is_file():
            raise Refused(f"{a.readme}: missing")
        found = figures(a.console, a.report, a.bench, a.throughput_bench, a.keep_bench)
        old = a.readme.read_text(encoding="utf-8")
        try:
            new = fill(old, a.readme, found)
        except (KeyError, StopIteration, TypeError) as e:
            raise Refused(f"{a.report}: not the expected schema ({type(e).__name__}: {e})") from None
    except Refused as e:
        print(f"readme_figures: {e}", file=sys.stderr)
        return 2
    if a.check:
        if new == old:
            print(f"{a.readme}: figures up to date")
            return 0
        sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                                   f"{a.readme} (now)", f"{a.readme} (from the run)"))
        return 1
    if new != old:
        tmp = a.readme.with_name(a.readme.name + ".figures-tmp")
        tmp.write_text(new, encoding="utf-8")
        tmp.replace(a.readme)
    print(f"{a.readme}: {len(found)} figure regions, " + ("rewritten" if new != old else "already up to date"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
