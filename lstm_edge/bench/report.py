"""The bench's verdicts and outputs: targets as ratios measured in one run, bench.md, bench.png.

Targets (issue "Benchmarks"), each with the measured value, the target and — when missed —
by how much and what the figures say about why (floor share, fraction of sgemm):

    step        best artefact ≥ 10× faster than a PyTorch eager step; ≤ 2× its runtime's floor
    sequence    best artefact ≥ 4× faster than PyTorch eager (B = 1, T = 100)
    throughput  best fp32 artefact ≥ 85 % of sgemm GFLOP/s; best int8 ≥ 1.8× the best fp32
    size        the smallest int8 artefact ≤ 30 % of its fp32 parent
"""
from __future__ import annotations

from pathlib import Path

from lstm_edge.files import write_bytes_atomic, write_json_atomic


def _artefacts(doc: dict, sc: str) -> list[dict]:
    return [r for r in doc["results"] if r["runtime"] != "pytorch" and not r["floor"] and sc in r["scenarios"]]


def _by(doc: dict, name: str) -> dict | None:
    return next((r for r in doc["results"] if r["name"] == name), None)


def targets(doc: dict) -> list[dict]:
    out = []
    torch = _by(doc, "pytorch-eager")

    def add(name, value, target, met, why):
        out.append({"target": name, "value": value, "goal": target, "met": bool(met), "detail": why})

    for sc, goal in (("step", 10.0), ("sequence", 4.0)):
        arts = _artefacts(doc, sc)
        if not arts or sc not in torch["scenarios"]:
            continue
        best = min(arts, key=lambda r: r["scenarios"][sc]["median_ms"])
        t_best, t_torch = best["scenarios"][sc]["median_ms"], torch["scenarios"][sc]["median_ms"]
        floor = _by(doc, f"floor:{best['runtime']}")
        t_floor = floor["scenarios"][sc]["median_ms"] if floor else None
        share = f"; its runtime's floor is {t_floor * 1e3:.1f} µs of its {t_best * 1e3:.1f} µs" if t_floor else ""
        steps = doc["settings"]["scenarios"][sc]["time"] if doc["settings"]["scenarios"][sc]["mode"] == "call" else 1
        if t_floor and steps > 1:
            share += f", {(t_best - t_floor) * 1e3 / steps:.2f} µs per step on top (PyTorch: {t_torch * 1e3 / steps:.2f})"
        add(f"{sc}: best artefact vs PyTorch eager", t_torch / t_best, goal, t_torch / t_best >= goal,
            f"{best['name']} {t_best * 1e3:.1f} µs vs PyTorch {t_torch * 1e3:.1f} µs{share}"
            + _profile(best["scenarios"][sc]))
        if sc == "step" and t_floor:
            add("step: best artefact vs its runtime's identity floor", t_best / t_floor, 2.0, t_best / t_floor <= 2.0,
                f"{best['name']}: model work {1e3 * (t_best - t_floor):.1f} µs on top of a {t_floor * 1e3:.1f} µs call "
                f"({doc['flops_per_step'] / 1e3:.0f} kFLOP per step, i.e. "
                f"{doc['flops_per_step'] / ((t_best - t_floor) / 1e3) / 1e9 if t_best > t_floor else float('inf'):.1f} "
                "GFLOP/s in the model's own work)")
    # the throughput targets are set for the H = 256 model (models/throughput.toml); smaller
    # models are measured, not judged: their recurrent products are too small to near sgemm
    arts = _artefacts(doc, "throughput") if doc["dims"]["hidden_size"] >= 256 else []
    fp32 = [r for r in arts if r["precision"] == "fp32"]
    int8 = [r for r in arts if r["precision"].startswith("int8")]
    if fp32:
        best32 = max(fp32, key=lambda r: r["scenarios"]["throughput"]["gflops"])
        g32 = best32["scenarios"]["throughput"]["gflops"]
        shape = doc["sgemm"]["lstm_shape"]
        add("throughput: best fp32 artefact vs sgemm", g32 / doc["sgemm"]["gflops"], 0.85,
            g32 / doc["sgemm"]["gflops"] >= 0.85,
            f"{best32['name']} {g32:.1f} GFLOP/s vs sgemm {doc['sgemm']['gflops']:.1f} GFLOP/s (N = {doc['sgemm']['n']}); "
            f"sgemm at the recurrent product's own shape ({shape['m']}×{shape['k']} · {shape['k']}×{shape['n']}) "
            f"reaches {shape['gflops']:.1f} ({100 * shape['gflops'] / doc['sgemm']['gflops']:.0f} % of N = "
            f"{doc['sgemm']['n']}), of which {best32['name']} achieves {100 * g32 / shape['gflops']:.0f} %"
            + _profile(best32["scenarios"]["throughput"]))
        if int8:
            best8 = max(int8, key=lambda r: r["scenarios"]["throughput"]["steps_per_s"])
            ratio = best8["scenarios"]["throughput"]["steps_per_s"] / best32["scenarios"]["throughput"]["steps_per_s"]
            add("throughput: best int8 artefact vs best fp32", ratio, 1.8, ratio >= 1.8,
                f"{best8['name']} {best8['scenarios']['throughput']['gflops']:.1f} GFLOP/s-equivalent vs "
                f"{best32['name']} {g32:.1f}")
    sized = [r for r in doc["results"] if r["precision"].startswith("int8") and _by(doc, r.get("parent") or "")]
    if sized:
        small = min(sized, key=lambda r: r["size_bytes"] / _by(doc, r["parent"])["size_bytes"])
        ratio = small["size_bytes"] / _by(doc, small["parent"])["size_bytes"]
        add("size: smallest int8 artefact vs its fp32 parent", ratio, 0.30, ratio <= 0.30,
            f"{small['name']} {small['size_bytes'] / 1024:.1f} KiB vs {small['parent']} "
            f"{_by(doc, small['parent'])['size_bytes'] / 1024:.1f} KiB")
    return out


def _profile(scenario: dict) -> str:
    ops = scenario.get("profile_us_per_call") or {}
    total = sum(ops.values())
    if not total:
        return ""
    top = ", ".join(f"{op} {us / 1e3:.2f} ms ({100 * us / total:.0f} %)" for op, us in list(ops.items())[:3])
    return f"; onnxruntime profile per call: {top}"


def markdown(doc: dict) -> str:
    lines = [f"# Benchmark: {doc['model']} (H = {doc['dims']['hidden_size']}, L = {doc['dims']['num_layers']})", "",
             f"{doc['settings']['threads']} intra-op thread(s), one process per peer, {doc['settings']['rounds']} "
             f"interleaved rounds, warm-up excluded. sgemm (N = {doc['sgemm']['n']}, 1 thread): "
             f"{doc['sgemm']['gflops']:.1f} GFLOP/s.", ""]
    torch = _by(doc, "pytorch-eager")
    for sc, spec in doc["settings"]["scenarios"].items():
        rows = [r for r in doc["results"] if sc in r["scenarios"]]
        if not rows:
            continue
        lines += [f"## {sc}: B = {spec['batch']}" + (", one step per call, state carried" if spec["mode"] == "step"
                                                    else f", T = {spec['time']}, one call"), "",
                  "| peer | runtime | precision | size KiB | median | p99 | steps/s | GFLOP/s | % sgemm | × PyTorch "
                  "| max abs err vs PyTorch | peak RSS MB |", "|" + "---|" * 12]
        base = torch["scenarios"][sc]["median_ms"] if torch and sc in torch["scenarios"] else None
        for r in sorted(rows, key=lambda r: r["scenarios"][sc]["median_ms"]):
            s = r["scenarios"][sc]
            err = s["max_abs_error_vs_pytorch"]
            name = r["name"] + (" (stepped)" if r["stepped"] and spec["mode"] == "call" else "")
            work = ("—", "—") if r["floor"] else (f"{s['gflops']:.2f}", f"{100 * s['gflops'] / doc['sgemm']['gflops']:.1f}")
            lines.append(f"| {name} | {r['runtime']} | {r['precision']} | {r['size_bytes'] / 1024:.0f} | "
                         f"{_ms(s['median_ms'])} | {_ms(s['p99_ms'])} | {s['steps_per_s']:,.0f} | {work[0]} | {work[1]} | "
                         f"{base / s['median_ms']:.1f}× | {'—' if err is None else f'{err:.1e}'} | {r['peak_rss_mb']:.0f} |"
                         if base else f"| {name} | {s['median_ms']:.3f} ms |")
        lines.append("")
    lines += ["## Targets", "", "| target | measured | goal | verdict | detail |", "|---|---|---|---|---|"]
    for t in doc["targets"]:
        lines.append(f"| {t['target']} | {t['value']:.2f} | {t['goal']:.2f} | {'met' if t['met'] else 'MISSED'} | {t['detail']} |")
    if doc["dims"]["hidden_size"] < 256 and "throughput" in doc["settings"]["scenarios"]:
        lines.append("\nThe throughput targets are judged on the H = 256 model (models/throughput.toml), not on this one.")
    for s in doc["skipped"]:
        lines.append(f"\nskipped {s['name']}: {s['reason']}")
    from lstm_edge.bench.ship import markdown as shipping_table

    return "\n".join(lines) + "\n\n" + shipping_table(doc) + "\n"


def _ms(v: float) -> str:
    return f"{v * 1e3:.1f} µs" if v < 1 else f"{v:.2f} ms"


def plot(doc: dict, path: Path, scenario: str = "sequence") -> Path | None:
    """Latency against size, coloured by the largest error against PyTorch (log scale)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    rows = [r for r in doc["results"] if scenario in r["scenarios"] and not r["floor"]]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(9, 5.5))
    err = [max(r["scenarios"][scenario]["max_abs_error_vs_pytorch"] or 1e-9, 1e-9) for r in rows]
    pts = ax.scatter([r["size_bytes"] / 1024 for r in rows], [r["scenarios"][scenario]["median_ms"] * 1e3 for r in rows],
                     c=err, norm=LogNorm(vmin=1e-8, vmax=max(1.0, max(err))), cmap="viridis_r", s=60,
                     edgecolors="black")
    for r in rows:
        ax.annotate(r["name"], (r["size_bytes"] / 1024, r["scenarios"][scenario]["median_ms"] * 1e3), fontsize=7,
                    xytext=(4, 3), textcoords="offset points")
    fig.colorbar(pts, label="max |y − y_PyTorch|")
    ax.set(xscale="log", yscale="log", xlabel="size (KiB)", ylabel=f"{scenario} median latency (µs)",
           title=f"{doc['model']}: latency vs size ({scenario}, {doc['settings']['threads']} thread)")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())
    return path


def write_bench(directory: Path, doc: dict) -> None:
    doc["targets"] = targets(doc)
    write_json_atomic(directory / "bench.json", doc)
    write_bytes_atomic(directory / "bench.md", markdown(doc).encode())
    from lstm_edge.bench.ship import write_into_report

    write_into_report(directory, doc)          # report.md ends with the same "which artefact to ship" table
    plot(doc, directory / "bench.png", "sequence" if any("sequence" in r["scenarios"] for r in doc["results"])
         else next(iter(doc["settings"]["scenarios"])))


def check_bench(doc: dict) -> list[str]:
    """Problems with a bench.json document: every figure present, finite and positive."""
    import math

    def bad(v, positive=True):
        return not isinstance(v, (int, float)) or not math.isfinite(v) or (positive and v <= 0)

    problems = [f"schema {doc.get('schema')!r}"] if doc.get("schema") != "lstm-edge-bench/1" else []
    for k in ("gflops", "median_ms"):
        if bad(doc.get("sgemm", {}).get(k)):
            problems.append(f"sgemm.{k}")
    if bad(doc.get("sgemm", {}).get("lstm_shape", {}).get("gflops")):
        problems.append("sgemm.lstm_shape.gflops")
    for r in doc.get("results", []):
        for k in ("size_bytes", "load_ms", "peak_rss_mb"):
            if bad(r.get(k)):
                problems.append(f"{r.get('name')}: {k} = {r.get(k)!r}")
        if not r.get("scenarios"):
            problems.append(f"{r.get('name')}: no scenario measured")
        for sc, s in r.get("scenarios", {}).items():
            for k in ("median_ms", "p99_ms", "mean_ms", "steps_per_s", "gflops"):
                if bad(s.get(k)):
                    problems.append(f"{r['name']}/{sc}: {k} = {s.get(k)!r}")
            if not r["floor"] and bad(s.get("max_abs_error_vs_pytorch"), positive=False):
                problems.append(f"{r['name']}/{sc}: max_abs_error_vs_pytorch = {s.get('max_abs_error_vs_pytorch')!r}")
    for t in doc.get("targets", []):
        if bad(t.get("value"), positive=False) or not isinstance(t.get("met"), bool):
            problems.append(f"target {t.get('target')}: {t.get('value')!r}")
    return problems
