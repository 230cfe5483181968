"""`python -m lstm_edge.runtime bench BUNDLE`: latency and memory on the device, as JSON.

Each artefact is measured in its own child process, so its peak RSS is its own (the parent
never loads a model). Per artefact:

- sequence: one call on one golden window, batch 1, T = the window length;
- step: one streaming step, batch 1, state carried by a stepper (runtime/fast_step.py: the
  tuned path — XNNPACK on LiteRT, I/O binding on onnxruntime) for artefacts that return cn;

warm-up calls excluded, then p50/p90/p99/mean of per-call wall time (perf_counter_ns), and
the peak RSS before and after loading the model. Results from several devices are compared
with `python -m lstm_edge.runtime compare a.json b.json` (or `lstm-edge bench --compare`).

    python -m lstm_edge.runtime.harness.bench BUNDLE FILE THREADS WARMUP ITERATIONS   → one JSON line
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np

from lstm_edge.errors import EnvironmentFault, InvalidInputError
from lstm_edge.runtime.child import run_child
from lstm_edge.runtime.harness.where import environment

SCHEMA = "lstm-edge-device-bench/1"
EMULATED_NOTE = "emulated, not a latency"
PERCENTILES = (50, 90, 99)


def bench_bundle(bundle, *, threads: int = 1, warmup: int = 20, iterations: int = 200,
                 only: list[str] | None = None) -> dict:
    from lstm_edge.runtime.harness.verify import RUNTIME_MODULES, runtime_installed

    chosen = [bundle.artifact(n) for n in only] if only else bundle.artifacts
    results = []
    for a in chosen:
        if not runtime_installed(a["runtime"]):
            results.append({"artifact": a["file"], "runtime": a["runtime"], "precision": a["precision"],
                            "skipped": f"{RUNTIME_MODULES[a['runtime']]} is not installed here"})
            continue
        r = run_child("lstm_edge.runtime.harness.bench", [bundle.root, a["file"], threads, warmup, iterations],
                      timeout=3600)
        if r.failed:
            raise InvalidInputError(f"{bundle.root / a['file']}: the benchmark child {r.describe()}")
        results.append(json.loads(r.stdout.strip().splitlines()[-1]))
    if not any("skipped" not in r for r in results):
        raise EnvironmentFault(f"{bundle.root}: no artefact in this bundle can run here",
                               hint="pip install lstm-edge (brings onnxruntime and ai-edge-litert)")
    device = environment()                  # where it ran (where.py), the one record verify writes too
    if device["emulated"]:        # figures of the emulator: kept, labelled, never compared (compare.py)
        for r in results:
            r["note"] = EMULATED_NOTE
    return {"schema": SCHEMA, "device": device,
            "bundle": {"model": bundle.manifest["model"]["name"], "weights_sha256": bundle.manifest["model"]["weights_sha256"]},
            "settings": {"threads": threads, "warmup": warmup, "iterations": iterations},
            "results": results}


def peak_rss_mb() -> float:
    """This process's peak resident set. VmHWM where /proc has it: getrusage's ru_maxrss is
    kept across exec, so a child started by a big parent would report the parent's peak
    (measured: every bench peer showed the 586 MB of the lstm-edge process that started it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024                      # kB
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024   # bytes on macOS, KiB elsewhere


def timings(fn, warmup: int, iterations: int) -> dict:
    for _ in range(warmup):
        fn()
    ns = np.empty(iterations, np.int64)
    for i in range(iterations):
        t0 = time.perf_counter_ns()
        fn()
        ns[i] = time.perf_counter_ns() - t0
    ms = ns / 1e6
    return {"n": iterations, "mean_ms": float(ms.mean()), "min_ms": float(ms.min()),
            **{f"p{p}_ms": float(np.percentile(ms, p)) for p in PERCENTILES}}


def measure(root, file: str, threads: int, warmup: int, iterations: int) -> dict:
    """In the child: load one artefact, time a sequence call and a streaming step."""
    from pathlib import Path

    from lstm_edge.runtime.harness.bundle_files import open_bundle
    from lstm_edge.runtime.runner import open_sequence_runner

    bundle = open_bundle(Path(root))        # hash-checked here too: the child trusts nothing
    a = bundle.artifact(file)
    feeds = {k: np.ascontiguousarray(v[:1] if k == "x" else v[:, :1]) for k, v in bundle.inputs("windows").items()}
    rss_before = peak_rss_mb()
    t0 = time.perf_counter()
    runner = open_sequence_runner(bundle.root / file, threads=threads)
    load_ms = (time.perf_counter() - t0) * 1e3
    result = {"artifact": file, "runtime": a["runtime"], "precision": a["precision"], "recipe": a.get("recipe"),
              "size_bytes": bundle.manifest["files"][file]["size_bytes"], "threads": threads, "load_ms": load_ms,
              "sequence": {"batch": 1, "time": int(feeds["x"].shape[1]),
                           **timings(lambda: runner.run(feeds), warmup, iterations)},
              "step": None}
    if "cn" in a["outputs"]:   # the tuned streaming path: runtime/fast_step.py
        from lstm_edge.runtime.fast_step import open_stepper

        stepper, xs, t = open_stepper(bundle.root / file, threads=threads), feeds["x"], iter(range(10**12))
        result["step"] = {"batch": 1, "settings": stepper.settings,
                          **timings(lambda: stepper.step(xs[:, next(t) % xs.shape[1]]), warmup, iterations * 5)}
    result["rss_before_load_mb"], result["peak_rss_mb"] = rss_before, peak_rss_mb()
    return result


def validate_bench(doc: dict) -> list[str]:
    """Problems with a bench JSON document (empty when it matches the schema)."""
    problems = []
    if doc.get("schema") != SCHEMA:
        return [f"schema {doc.get('schema')!r}, expected {SCHEMA!r}"]
    for key in ("device", "bundle", "settings", "results"):
        if key not in doc:
            problems.append(f"missing '{key}'")
    for r in doc.get("results", []):
        if "skipped" in r:
            continue
        for part in ("sequence",) + (("step",) if r.get("step") is not None else ()):
            for k in ("mean_ms", *(f"p{p}_ms" for p in PERCENTILES)):
                v = r.get(part, {}).get(k)
                if not isinstance(v, (int, float)) or not np.isfinite(v) or v <= 0:
                    problems.append(f"{r.get('artifact')}: {part}.{k} = {v!r}")
        for k in ("peak_rss_mb", "size_bytes", "load_ms"):
            if not isinstance(r.get(k), (int, float)) or not r[k] > 0:
                problems.append(f"{r.get('artifact')}: {k} = {r.get(k)!r}")
    return problems


if __name__ == "__main__":
    root, file, threads, warmup, iterations = sys.argv[1:6]
    print(json.dumps(measure(root, file, int(threads), int(warmup), int(iterations))))
