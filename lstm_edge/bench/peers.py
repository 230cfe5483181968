"""What a user might pick instead of lstm-edge's artefacts, benched in the same run on the same weights
(`lstm-edge bench --peers …`; all installed ones by default):

    torch-jit       torch.jit.trace of the model, frozen
    torch-compile   torch.compile (inductor), compiled before timing
    openvino        OpenVINO reading the directory's onnx-fp32.onnx, reshaped to each scenario's static shape
    executorch      torch.export of the model, lowered to ExecuTorch with the XNNPACK delegate

Each is optional (`pip install 'lstm-edge[peers]'` for OpenVINO and ExecuTorch); one that cannot run is
skipped with the reason. ExecuTorch's export unrolls the LSTM at the exported T: measured here, T = 1 takes
12 s and 222 KiB, T = 100 281 s and 923 KiB — so its programs are cached per shape and weights in
DIR/peers/. Threads: each is held to the bench's intra-op threads (torch.set_num_threads, OpenVINO's
INFERENCE_NUM_THREADS, ExecuTorch's threadpool reset).
"""
from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np

PEERS = ("torch-jit", "torch-compile", "openvino", "executorch")
PACKAGES = {"openvino": "openvino", "executorch": "executorch"}


def plan(directory: Path, source, scenarios: list[str], wanted: list[str] | None) -> tuple[list[dict], list[dict]]:
    """→ (peers to start, skipped with the reason). `wanted`: None for every installed one."""
    from lstm_edge.errors import UsageError

    unknown = [p for p in wanted or () if p not in PEERS]
    if unknown:
        raise UsageError(f"unknown peer(s) {unknown}; choose from {list(PEERS)}")
    peers, skipped = [], []
    for name in (PEERS if wanted is None else wanted):
        why = None
        if source.kind != "spec":
            why = "a user's module: the peers are built from lstm-edge's own model for now"
        elif name in PACKAGES and importlib.util.find_spec(PACKAGES[name]) is None:
            why = f"{PACKAGES[name]} is not installed (pip install 'lstm-edge[peers]')"
        elif name == "openvino" and not (directory / "onnx-fp32.onnx").is_file():
            why = "reads onnx-fp32.onnx, which this directory lacks"
        if why:
            skipped.append({"name": name, "reason": why})
            continue
        size = (directory / ("onnx-fp32.onnx" if name == "openvino" else "model.safetensors")).stat().st_size
        peers.append({"name": name, "kind": "alt", "alt": name, "directory": str(directory),
                      "runtime": {"openvino": "openvino", "executorch": "executorch"}.get(name, "pytorch"),
                      "precision": "fp32", "size_bytes": size, "scenarios": list(scenarios)})
    return peers, skipped


class AltPeer:
    """The worker side (lstm_edge.bench.worker): one of PEERS at each scenario's fixed shape."""

    def __init__(self, job):
        import torch

        from lstm_edge.model.network import load_model
        from lstm_edge.train.checkpoint import load_checkpoint

        torch.set_num_threads(job["threads"])
        self.torch, self.job, self.name = torch, job, job["alt"]
        self.directory = Path(job["directory"])
        tensors, meta = load_checkpoint(self.directory)
        self.model = load_model(tensors, meta["dims"]).eval()
        self.weights = hashlib.sha256((self.directory / "model.safetensors").read_bytes()).hexdigest()[:12]
        if self.name == "torch-compile":
            self.compiled = torch.compile(self.model)

    def program(self, x: np.ndarray, h: np.ndarray, c: np.ndarray):
        """A function (x, h, c) → (y, hn, cn), numpy in and out, for inputs of these shapes."""
        torch = self.torch
        args = tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in (x, h, c))
        if self.name in ("torch-jit", "torch-compile"):
            fn = (torch.jit.freeze(torch.jit.trace(self.model, args).eval()) if self.name == "torch-jit"
                  else self.compiled)

            def run(x, h, c):
                with torch.inference_mode():
                    return [t.numpy() for t in fn(torch.from_numpy(x), torch.from_numpy(h), torch.from_numpy(c))]
            run(*(a.numpy() for a in args))          # tracing / compiling happens here, before any timing
            return run
        if self.name == "openvino":
            return self._openvino(x, h, c)
        return self._executorch(args)

    def _openvino(self, x, h, c):
        import openvino as ov

        core = ov.Core()
        model = core.read_model(str(self.directory / "onnx-fp32.onnx"))
        model.reshape({"x": list(x.shape), "h0": list(h.shape), "c0": list(c.shape)})
        compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": self.job["threads"], "NUM_STREAMS": 1,
                                                     "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"})
        request = compiled.create_infer_request()
        outs = [compiled.output(n) for n in ("y", "hn", "cn")]

        def run(x, h, c):
            result = request.infer({"x": x, "h0": h, "c0": c})
            return [result[o].copy() for o in outs]      # the request's buffers are overwritten by the next call
        return run

    def _executorch(self, args):
        import executorch.extension.pybindings.portable_lib as portable
        from executorch.runtime import Runtime

        portable._unsafe_reset_threadpool(self.job["threads"])
        B, T = args[0].shape[:2]
        cache = self.directory / "peers" / f"executorch-xnnpack-B{B}-T{T}-{self.weights}.pte"
        if not cache.is_file():
            from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
            from executorch.exir import to_edge_transform_and_lower

            from lstm_edge.files import write_bytes_atomic

            exported = self.torch.export.export(self.model, args)
            program = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()]).to_executorch()
            cache.parent.mkdir(exist_ok=True)
            write_bytes_atomic(cache, program.buffer)
        self.size_bytes = max(getattr(self, "size_bytes", 0), cache.stat().st_size)   # the largest program it runs
        # the program and its bytes must outlive the method, which points into them (dropped: SIGSEGV after a few
        # hundred calls, measured)
        self._keep = getattr(self, "_keep", []) + [cache.read_bytes()]
        self._keep.append(Runtime.get().load_program(self._keep[-1]))
        method = self._keep[-1].load_method("forward")
        torch = self.torch

        def run(x, h, c):
            # outputs live in the method's own memory, overwritten (and fed back as inputs by a stepper) on the next
            # call: copied out, as every other runtime returns fresh arrays (without it: SIGSEGV, measured)
            return [t.numpy().copy() for t in method.execute([torch.from_numpy(x), torch.from_numpy(h),
                                                              torch.from_numpy(c)])]
        return run

    def caller(self, feeds, scenario=None):
        run = self.program(feeds["x"], feeds["h0"], feeds["c0"])
        x, h, c = feeds["x"], feeds["h0"], feeds["c0"]
        return lambda: run(x, h, c)[0]

    def stepper(self, feeds):
        xs = [np.ascontiguousarray(feeds["x"][:, t:t + 1]) for t in range(feeds["x"].shape[1])]
        run = self.program(xs[0], feeds["h0"], feeds["c0"])
        state = {"h": feeds["h0"], "c": feeds["c0"], "t": 0}

        def step():
            y, state["h"], state["c"] = run(xs[state["t"] % len(xs)], state["h"], state["c"])
            state["t"] += 1
            return y[:, 0]
        return step
