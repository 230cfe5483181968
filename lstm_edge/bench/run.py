"""`lstm-edge bench DIR`: latency, throughput, memory and size of every stage, side by side,
measured in one run against PyTorch eager, each runtime's per-call floor, and sgemm.

Every peer (PyTorch eager, each artefact on its runtime, an identity model per runtime,
numpy's single-thread sgemm) runs in its own process (lstm_edge.bench.worker) on identical
inputs. Rounds are interleaved — each round gives every peer a batch of calls, in an order
rotated from round to round — so a noisy neighbour on this shared machine hits all peers
alike; warm-up calls are excluded. Scenarios:

    step        B = 1, one step per call, state carried (the tuned stepper: runtime/fast_step.py)
    sequence    B = 1, T = 100, one call from the zero state
    throughput  B = 64, T = 100, one call (meant for the H = 256 model: models/throughput.toml)

GFLOP/s count the LSTM's and the head's matrix products, 2·4H·(I + H) per layer and step plus
2·H·O (for a user's module: 2 × every weight matrix, the same count), against numpy's float32
sgemm (N = 1024, one thread) timed in the same rounds. A user's project (lstm_edge/source) is
benched the same way, without the step scenario and the identity floors (both are built for
lstm-edge's own I/O).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from lstm_edge.files import list_artifacts, read_sidecar
from lstm_edge.errors import EnvironmentFault, UsageError
from lstm_edge.model.network import lstm_flops  # noqa: F401  (where the bench's FLOP count is defined)
from lstm_edge.runtime.fast_step import SETTINGS as RUNTIME_SETTINGS

SCHEMA = "lstm-edge-bench/1"
SCENARIOS = {"step": {"batch": 1, "time": 100, "mode": "step"},
             "sequence": {"batch": 1, "time": 100, "mode": "call"},
             "throughput": {"batch": 64, "time": 100, "mode": "call"}}
SGEMM_N = 1024


def scenarios_of(source) -> dict:
    """The scenarios at this model's T: 100 for lstm-edge's own; a user's module is timed at its example's T
    (an artefact unrolled at that T takes no other, and it is the length the model was built for)."""
    if source.kind == "spec":
        return SCENARIOS
    T = source.meta["example_shape"][1 - source.bx]
    return {k: dict(v, time=T if v["mode"] == "call" else v["time"]) for k, v in SCENARIOS.items()}


def plan_peers(directory: Path, source, floor_dir: Path, scenarios: list[str]) -> tuple[list[dict], list[dict]]:
    """→ (peers, skipped). Artefacts are hash-checked here, before any process loads them."""
    from lstm_edge.converters.identity import identity_onnx, identity_tflite

    dims = source.bench_dims()
    F, L, H, O = dims["input_size"], dims["num_layers"], dims["hidden_size"], dims["output_size"]
    peers = [{"name": "pytorch-eager", "kind": "torch", "directory": str(directory), "runtime": "pytorch",
              "precision": "fp32", "size_bytes": (directory / "model.safetensors").stat().st_size,
              "scenarios": [s for s in scenarios if source.kind == "spec" or SCENARIOS[s]["mode"] == "call"]}]
    skipped, runtimes = [], set()
    bundle = directory / "bundle"     # the ORT-format conversions live in the device bundle only
    ort = [p for p in list_artifacts(bundle) if p.suffix == ".ort"] if bundle.is_dir() else []
    for path in list_artifacts(directory) + ort:
        info = read_sidecar(path)
        if info.get("kind") != "artifact":
            continue
        if info.get("isolate"):
            skipped.append({"name": path.stem, "reason": "runs only in a child process per call (its probe crashed)"})
            continue
        runtime = info["runtimes"][0]
        runtimes.add(runtime)
        steps = source.kind == "spec" and "cn" in info["outputs"]      # the tuned stepper takes lstm-edge's own I/O
        own = [s for s in scenarios if SCENARIOS[s]["mode"] == "call" or steps]
        if len(own) < len(scenarios):
            skipped.append({"name": path.stem, "reason": "step: the fused TFLite kernel does not return the cell state"
                            if source.kind == "spec" else "step: no streaming step artefact for a user's module yet"})
        if not own:                 # nothing it can run of what was asked (bench --scenario step, a fused artefact)
            continue
        peers.append({"name": path.name if path.suffix == ".ort" else path.stem, "kind": "runtime", "path": str(path),
                      "runtime": runtime,
                      "format": info["format"], "precision": info["precision"], "recipe": info.get("recipe"),
                      "parent": info["parent"], "size_bytes": info["size_bytes"], "stepped": bool(info.get("chunk")),
                      "scenarios": own})
    if source.kind != "spec":     # the identity floors are built for lstm-edge's own I/O (x, h0, c0 → y, hn, cn)
        skipped += [{"name": f"floor:{r}", "reason": "no identity model of a user's module's I/O yet"} for r in sorted(runtimes)]
        runtimes = set()
    for runtime, make, suffix in (("onnxruntime", identity_onnx, ".onnx"), ("litert", identity_tflite, ".tflite")):
        if runtime in runtimes:
            path = make(floor_dir / f"identity{suffix}", F, L, H, O)
            peers.append({"name": f"floor:{runtime}", "kind": "runtime", "path": str(path), "runtime": runtime,
                          "precision": "—", "size_bytes": path.stat().st_size, "floor": True, "scenarios": list(scenarios)})
    batch = SCENARIOS["throughput"]["batch"]
    peers.append({"name": "sgemm", "kind": "sgemm", "runtime": "numpy", "precision": "fp32", "size_bytes": 0,
                  "n": SGEMM_N, "lstm_shape": [batch, H, dims.get("gates", 4) * H], "scenarios": ["sgemm", "sgemm-lstm"]})
    return peers, skipped


class Worker:
    def __init__(self, peer: dict, job: dict, env: dict):
        self.peer = peer
        self.proc = subprocess.Popen([sys.executable, "-m", "lstm_edge.bench.worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        self.ready = self.ask({"job": job})

    def ask(self, obj: dict) -> dict:
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            from lstm_edge.runtime.child import exit_name

            code = self.proc.wait()
            raise EnvironmentFault(f"bench peer {self.peer['name']} died ({exit_name(code)})",
                                   hint="run it alone with lstm-edge --debug bench to see why")
        reply = json.loads(line)
        if "error" in reply:
            raise EnvironmentFault(f"bench peer {self.peer['name']}: {reply['error']}")
        return reply


def bench(directory: Path, *, scenarios: list[str] | None = None, threads: int = 1, rounds: int = 5,
          calls: dict | None = None, peers: list[str] | None = None, progress=None) -> dict:
    """Run the benchmark; → the bench.json document (also written with bench.md and bench.png).
    `peers`: the alternatives of lstm_edge/bench/peers.py to run beside the artefacts (None: every installed one)."""
    from lstm_edge.bench.report import write_bench

    directory = Path(directory)
    say = progress or (lambda msg: None)
    unknown = [s for s in scenarios or () if s not in SCENARIOS]
    if unknown:
        raise UsageError(f"unknown scenario(s) {unknown}; choose from {list(SCENARIOS)}")
    from lstm_edge.source import open_source

    source = open_source(directory)            # a spec's model or a user's project
    if source.kind != "spec" and "step" in (scenarios or ()):
        raise UsageError(f"{directory} holds a user's module: no streaming step artefact for it yet, so scenario "
                         "'step' has nothing to run", hint="bench --scenario sequence or throughput")
    scenarios = list(scenarios or [s for s, v in SCENARIOS.items() if source.kind == "spec" or v["mode"] == "call"])
    calls = {"step": 400, "sequence": 40, "throughput": 3, "sgemm": 5, "sgemm-lstm": 200} | (calls or {})
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               TF_CPP_MIN_LOG_LEVEL="3", TF_USE_LEGACY_KERAS="1")
    with tempfile.TemporaryDirectory() as tmp:
        from lstm_edge.bench import peers as alternatives

        wanted = peers
        peers, skipped = plan_peers(directory, source, Path(tmp), scenarios)
        alt, alt_skipped = alternatives.plan(directory, source, scenarios, wanted)
        peers, skipped = peers[:1] + alt + peers[1:], skipped + alt_skipped
        if any(p["name"] == "executorch" for p in alt):
            say("executorch exports a program per scenario shape (it unrolls the LSTM: minutes at T = 100 the first "
                f"time), cached in {directory / 'peers'}")
        table = scenarios_of(source)
        say(f"starting {len(peers)} peers, one process each ({threads} intra-op thread(s))")
        workers = []
        try:
            for p in peers:
                job = {"kind": p["kind"], "threads": threads, "seed": 0, "n": p.get("n"), "path": p.get("path"),
                       "lstm_shape": p.get("lstm_shape"), "alt": p.get("alt"),
                       "directory": p.get("directory"),
                       "io": source.io_contract(),
                       "scenarios": {s: table.get(s, {"batch": 1, "time": 1, "mode": "call"}) for s in p["scenarios"]}}
                workers.append(Worker(p, job, env))
            times = measure(workers, scenarios + ["sgemm", "sgemm-lstm"], rounds, calls, say)
            accuracy = dump_outputs(workers, scenarios, Path(tmp))
            profiles = {(w.peer["name"], sc): w.ask({"profile": sc, "n": max(2, calls[sc] // 2)})["per_op_us"]
                        for w in workers if w.peer["kind"] == "runtime" and not w.peer.get("floor")
                        for sc in scenarios if SCENARIOS[sc]["mode"] == "call" and sc in w.peer["scenarios"]}
            rss = {w.peer["name"]: w.ask({"quit": True})["peak_rss_mb"] for w in workers}
        finally:
            for w in workers:
                w.proc.kill() if w.proc.poll() is None else None
    doc = summarize(source, table, peers, skipped, workers, times, accuracy, profiles, rss, threads, rounds, calls)
    write_bench(directory, doc)
    return doc


def measure(workers: list[Worker], scenarios: list[str], rounds: int, calls: dict, say) -> dict:
    """{(peer, scenario): [ns per call]} over interleaved rounds, warm-up excluded."""
    times: dict = {}
    for sc in scenarios:
        for w in (w for w in workers if sc in w.peer["scenarios"]):
            w.ask({"run": sc, "n": max(2, calls[sc] // 4)})                  # warm-up, discarded
    for r in range(rounds):
        say(f"round {r + 1}/{rounds}")
        for sc in scenarios:
            group = [w for w in workers if sc in w.peer["scenarios"]]
            k = r % max(1, len(group))
            for w in group[k:] + group[:k]:                                   # rotated each round
                times.setdefault((w.peer["name"], sc), []).extend(w.ask({"run": sc, "n": calls[sc]})["ns"])
    return times


def dump_outputs(workers: list[Worker], scenarios: list[str], tmp: Path) -> dict:
    """{(peer, scenario): max |y − y_pytorch|} on the scenario's own inputs, from the zero state."""
    ys = {}
    for w in workers:
        for sc in scenarios:
            if sc in w.peer["scenarios"] and not w.peer.get("floor"):
                path = tmp / f"{len(ys)}.npy"
                w.ask({"dump": sc, "path": str(path)})
                ys[(w.peer["name"], sc)] = np.load(path)
    return {key: float(np.abs(y.astype(np.float64) - ys[("pytorch-eager", key[1])]).max())
            for key, y in ys.items() if ("pytorch-eager", key[1]) in ys}


def summarize(source, table, peers, skipped, workers, times, accuracy, profiles, rss, threads, rounds, calls) -> dict:
    from lstm_edge.verify.report import versions

    flops = source.flops_per_step()
    sgemm_s = float(np.median(times[("sgemm", "sgemm")])) / 1e9
    sgemm_gflops = 2 * SGEMM_N ** 3 / sgemm_s / 1e9
    m, k, n = next(w.peer["lstm_shape"] for w in workers if w.peer["kind"] == "sgemm")
    lstm_s = float(np.median(times[("sgemm", "sgemm-lstm")])) / 1e9
    results = []
    for w in workers:
        p = w.peer
        if p["kind"] == "sgemm":
            continue
        entry = {k: p.get(k) for k in ("name", "runtime", "format", "precision", "recipe", "parent", "size_bytes")}
        entry["size_bytes"] = w.ready.get("size_bytes", entry["size_bytes"])   # a peer's own program (ExecuTorch)
        entry |= {"floor": bool(p.get("floor")), "stepped": bool(p.get("stepped")),
                  "load_ms": w.ready["load_ms"], "peak_rss_mb": rss[p["name"]], "scenarios": {}}
        for sc in p["scenarios"]:
            ms = np.asarray(times[(p["name"], sc)], np.float64) / 1e6
            s = table[sc]
            steps = s["batch"] * (1 if s["mode"] == "step" else s["time"])
            median = float(np.median(ms))
            entry["scenarios"][sc] = {
                "n": int(ms.size), "median_ms": median, "p99_ms": float(np.percentile(ms, 99)),
                "mean_ms": float(ms.mean()), "steps_per_s": steps / (median / 1e3),
                "gflops": flops * steps / (median / 1e3) / 1e9,
                "max_abs_error_vs_pytorch": accuracy.get((p["name"], sc)),
                "profile_us_per_call": profiles.get((p["name"], sc), {})}
        results.append(entry)
    return {"schema": SCHEMA, "model": source.name, "dims": source.bench_dims(),
            "settings": {"threads": threads, "rounds": rounds, "calls_per_round": calls, "scenarios": table,
                         "process_per_peer": True, "interleaved": True,
                         "runtime": RUNTIME_SETTINGS},
            "sgemm": {"n": SGEMM_N, "threads": 1, "median_ms": sgemm_s * 1e3, "gflops": sgemm_gflops,
                      "lstm_shape": {"m": m, "k": k, "n": n, "gflops": 2 * m * k * n / lstm_s / 1e9}},
            "flops_per_step": flops, "results": results, "skipped": skipped, "versions": versions()}
