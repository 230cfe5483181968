"""One benchmark peer in its own process: PyTorch eager, one artefact on its runtime, an
identity model (the runtime's per-call floor), or numpy's sgemm (this machine's limit).

Driven by lstm_edge.bench.run over stdin/stdout, one JSON object per line:

    → {"job": {...}}                         ← {"ready": true, "load_ms": …}
    → {"run": "step", "n": 500}              ← {"ns": [per-call wall times]}
    → {"dump": "sequence", "path": "….npy"}  ← {"ok": true}   (y from the zero state, for accuracy)
    → {"profile": "sequence", "n": 20}       ← {"per_op_us": {op: µs per call}}   (onnxruntime only)
    → {"quit": true}                         ← {"peak_rss_mb": …}

Every peer generates the same inputs from the same seed, so all see identical data. Scenario
"step" is one step per call, batch 1, state carried (a stepper: the tuned streaming path);
"sequence" and "throughput" are one call on x (B, T, F) from the zero state.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from lstm_edge.runtime.harness.bench import peak_rss_mb

STEPS_DUMPED = 100     # a step scenario's dump: y of this many steps from the zero state


def scenario_inputs(scenario: dict, io: dict, seed: int) -> dict:
    """The scenario's inputs from the zero state, from the model's I/O description (the same in every peer)."""
    from lstm_edge.runtime.feeds import io_inputs

    return io_inputs(io, scenario["batch"], scenario["time"], seed)


class TorchPeer:
    def __init__(self, job):
        import torch

        from lstm_edge.files import read_json
        from lstm_edge.model.network import load_model
        from lstm_edge.train.checkpoint import load_checkpoint

        torch.set_num_threads(job["threads"])
        self.torch = torch
        meta = read_json(Path(job["directory"]) / "model.json")
        if meta.get("kind") == "project":      # a user's module, with its explicit state (lstm_edge/byo/wrap.py)
            from lstm_edge.source import open_source

            self.runner = open_source(Path(job["directory"])).torch_runner()
        else:
            self.runner = None
            tensors, meta = load_checkpoint(job["directory"])
            self.model = load_model(tensors, meta["dims"]).eval()

    def caller(self, feeds, scenario=None):
        if self.runner is not None:     # the user's module with its state made explicit, tensors made once
            args = [self.torch.from_numpy(feeds[k]) for k in self.runner.input_names]

            def call_module():
                with self.torch.inference_mode():
                    return self.runner.wrapper(*args)[0].numpy()
            return call_module
        t = {k: self.torch.from_numpy(v) for k, v in feeds.items()}

        def call():
            with self.torch.inference_mode():
                return self.model(t["x"], t["h0"], t["c0"])[0].numpy()
        return call

    def stepper(self, feeds):
        torch, model = self.torch, self.model
        xs = [torch.from_numpy(np.ascontiguousarray(feeds["x"][:, t:t + 1])) for t in range(feeds["x"].shape[1])]
        state = {"h": torch.from_numpy(feeds["h0"]), "c": torch.from_numpy(feeds["c0"]), "t": 0}

        def step():
            with torch.inference_mode():
                y, state["h"], state["c"] = model(xs[state["t"] % len(xs)], state["h"], state["c"])
            state["t"] += 1
            return y[:, 0].numpy()
        return step


class RuntimePeer:
    def __init__(self, job):
        from lstm_edge.runtime.runner import open_sequence_runner

        self.job = job
        self.runner = open_sequence_runner(job["path"], threads=job["threads"], in_process=True)

    def caller(self, feeds, scenario=None):
        return lambda: self.runner.run(feeds)["y"]

    def profile(self, feeds, n: int) -> dict[str, float]:
        """onnxruntime's own per-op profile: µs per call by op type (other runtimes: empty)."""
        import collections
        import os
        import tempfile

        if not self.job["path"].endswith((".onnx", ".ort")):
            return {}
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads, so.log_severity_level = self.job["threads"], 1, 3
        so.enable_profiling = True
        so.profile_file_prefix = os.path.join(tempfile.gettempdir(), f"lstm-edge-profile-{os.getpid()}")
        session = ort.InferenceSession(self.job["path"], so, providers=["CPUExecutionProvider"])
        for _ in range(n):
            session.run(None, feeds)
        path = session.end_profiling()
        with open(path, encoding="utf-8") as f:
            events = json.load(f)
        os.remove(path)
        per_op = collections.Counter()
        for e in events:
            if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
                per_op[e["args"]["op_name"]] += e["dur"] / n
        return dict(per_op.most_common())

    def stepper(self, feeds):
        from lstm_edge.runtime.fast_step import open_stepper

        s = open_stepper(self.job["path"], threads=self.job["threads"], batch=feeds["x"].shape[0])
        xs = [np.ascontiguousarray(feeds["x"][:, t]) for t in range(feeds["x"].shape[1])]
        count = iter(range(1 << 62))
        return lambda: s.step(xs[next(count) % len(xs)])


class SgemmPeer:
    """numpy float32 matmul on one thread (the parent sets the BLAS thread variables): scenario
    "sgemm" is N × N × N, this machine's peak; "sgemm-lstm" is the shape of the throughput
    scenario's recurrent product, (B, H) × (H, 4H), what BLAS itself achieves there."""

    def __init__(self, job):
        rng = np.random.default_rng(0)
        n, (m, k, n2) = job["n"], job["lstm_shape"]
        self.mats = {"sgemm": (rng.standard_normal((n, n)).astype(np.float32), rng.standard_normal((n, n)).astype(np.float32)),
                     "sgemm-lstm": (rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n2)).astype(np.float32))}

    def caller(self, feeds, scenario):
        a, b = self.mats[scenario]
        return lambda: a @ b


def serve() -> None:
    def say(obj):
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    job = json.loads(sys.stdin.readline())["job"]
    t0 = time.perf_counter()
    if job["kind"] == "alt":                      # torch.jit, torch.compile, OpenVINO, ExecuTorch (bench/peers.py)
        from lstm_edge.bench.peers import AltPeer
        peer = AltPeer(job)
    else:
        peer = {"torch": TorchPeer, "runtime": RuntimePeer, "sgemm": SgemmPeer}[job["kind"]](job)
    calls = {}
    for name, sc in job["scenarios"].items():
        feeds = scenario_inputs(sc, job["io"], job["seed"])
        calls[name] = peer.stepper(feeds) if sc["mode"] == "step" else peer.caller(feeds, name)
    say({"ready": True, "load_ms": (time.perf_counter() - t0) * 1e3, "rss_after_load_mb": peak_rss_mb()}
        | ({"size_bytes": peer.size_bytes} if getattr(peer, "size_bytes", None) else {}))
    for line in sys.stdin:
        cmd = json.loads(line)
        if "run" in cmd:
            fn, ns = calls[cmd["run"]], np.empty(cmd["n"], np.int64)
            for i in range(cmd["n"]):
                a = time.perf_counter_ns()
                fn()
                ns[i] = time.perf_counter_ns() - a
            say({"ns": ns.tolist()})
        elif "dump" in cmd:
            sc = job["scenarios"][cmd["dump"]]
            feeds = scenario_inputs(sc, job["io"], job["seed"])   # fresh state: the scenario's own first outputs
            if sc["mode"] == "step":
                fn = peer.stepper(feeds)
                y = np.stack([fn() for _ in range(STEPS_DUMPED)], axis=1)      # (B, steps, O)
            else:
                y = peer.caller(feeds, cmd["dump"])()
            np.save(cmd["path"], np.asarray(y, np.float32))
            say({"ok": True})
        elif "profile" in cmd:
            feeds = scenario_inputs(job["scenarios"][cmd["profile"]], job["io"], job["seed"])
            say({"per_op_us": peer.profile(feeds, cmd["n"]) if hasattr(peer, "profile") else {}})
        elif "quit" in cmd:
            say({"peak_rss_mb": peak_rss_mb()})
            return


if __name__ == "__main__":
    try:
        serve()
    except Exception as e:   # the parent reports it against this peer
        sys.stdout.write(json.dumps({"error": f"{type(e).__name__}: {e}"}) + "\n")
        sys.stdout.flush()
        sys.exit(1)
