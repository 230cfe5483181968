"""LiteRT runner for a chunked sequence artefact (tflite-seq-*): any T, any batch, XNNPACK on.

The artefact (converters/to_tflite_seq.py) holds two signatures over the same weights:

    serving_default   x (B, K, F), h0, c0 (L, B, H) → y (B, K, O), hn, cn   K steps, unrolled
    step              x (B, 1, F), h0, c0            → y (B, 1, O), hn, cn   one step

A sequence of T steps is T // K chunk calls, then T % K step calls, the state carried from call to
call: the same numbers as one call over T (the recurrence is the same cell, step after step). The
sidecar's "chunked" says K and the signatures' names.

Why not one call: XNNPACK takes builtin graphs only at fixed shapes, so each signature is applied
once per batch size (one interpreter per batch size, the last few kept), and an unrolled graph of any
T would have to exist for every T. Tensors are set and read by index (the signature runner costs
~15 µs per call more, measured on the default model).
"""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np

from lstm_edge.errors import InvalidInputError
from lstm_edge.runtime.contract import check_inputs, declare

KEEP_BATCHES = 4          # interpreters kept, one per batch size seen (each is a few hundred KB)


class LiteRTChunkRunner:
    def __init__(self, path: Path, *, threads: int = 1, info: dict | None = None, xnnpack: bool = True):
        from ai_edge_litert.interpreter import Interpreter

        self.path, self.threads, self.xnnpack = Path(path), threads, xnnpack
        self.name = f"litert:{self.path.name}"
        self.info = info or {}
        self.missing = dict(self.info.get("missing_outputs", {}))
        chunked = self.info.get("chunked") or {}
        self.K = chunked.get("steps")
        self.signatures = {"chunk": chunked.get("chunk", "serving_default"), "step": chunked.get("step", "step")}
        if not isinstance(self.K, int) or self.K < 1:
            raise InvalidInputError(f"{self.path}.json: 'chunked' is {chunked!r}, expected {{'steps': K ≥ 1, …}}",
                                    hint="keep the sidecar written with the artefact beside it, or re-export")
        try:
            it = Interpreter(model_path=str(self.path), num_threads=threads)
            listed = it.get_signature_list()
            details = {k: self._details(it, sig) for k, sig in self.signatures.items()}
        except (ValueError, RuntimeError, KeyError) as e:
            raise InvalidInputError(f"{self.path}: LiteRT cannot load this chunked artefact: {str(e)[:300]}",
                                    hint="the artefact is malformed; re-export it") from None
        if any(s not in listed for s in self.signatures.values()):
            raise InvalidInputError(f"{self.path}: signatures {sorted(listed)}, expected {sorted(self.signatures.values())}")
        ins, outs = details["chunk"]
        if set(ins) != {"x", "h0", "c0"} or set(outs) != {"y", "hn", "cn"}:
            raise InvalidInputError(f"{self.path}: signature {sorted(ins)} → {sorted(outs)}, expected x, h0, c0 → y, hn, cn")
        chunk_t, step_t = (int(details[k][0]["x"]["shape"][1]) for k in ("chunk", "step"))
        if (chunk_t, step_t) != (self.K, 1):
            raise InvalidInputError(f"{self.path}: its signatures take {chunk_t} and {step_t} steps, its sidecar says "
                                    f"{self.K} and 1", hint="keep the sidecar written with the artefact beside it")
        self.input_names, self.output_names = ("x", "h0", "c0"), ("y", "hn", "cn")
        x, h = ins["x"]["shape"], ins["h0"]["shape"]
        declared = {"x": (None, None, *map(int, x[2:])), "h0": (int(h[0]), None, int(h[2])),
                    "c0": (int(h[0]), None, int(ins["c0"]["shape"][2]))}
        self.expected, self.unrolled, self.x_spec = declare(declared, self.info, self.path, x_dtype="float32")
        self._interpreters: OrderedDict[int, dict] = OrderedDict()

    @staticmethod
    def _details(it, signature: str) -> tuple[dict, dict]:
        runner = it.get_signature_runner(signature)
        return runner.get_input_details(), runner.get_output_details()

    def _for_batch(self, B: int) -> dict:
        """{"chunk"/"step": _Bound} at batch B: one interpreter, both signatures resized once."""
        if B in self._interpreters:
            self._interpreters.move_to_end(B)
            return self._interpreters[B]
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        resolver = OpResolverType.AUTO if self.xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        it = Interpreter(model_path=str(self.path), num_threads=self.threads, experimental_op_resolver_type=resolver)
        it.allocate_tensors()          # applies the default delegate (XNNPACK) to every subgraph, once
        made = {kind: _Bound(it, signature, B) for kind, signature in self.signatures.items()}
        self._interpreters[B] = made
        while len(self._interpreters) > KEEP_BATCHES:
            self._interpreters.popitem(last=False)
        return made

    def signature_at(self, kind: str, batch: int) -> "_Bound":
        """The 'chunk' or 'step' signature resized to `batch` (for a stepper: runtime/fast_step.py)."""
        return self._for_batch(batch)[kind]

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        check_inputs(feeds, self.expected, self.name, fixed=self.unrolled, spec=self.x_spec)
        x = np.ascontiguousarray(feeds["x"], np.float32)
        B, T = x.shape[:2]
        interpreters = self._for_batch(B)
        h, c = np.ascontiguousarray(feeds["h0"]), np.ascontiguousarray(feeds["c0"])
        ys, t = [], 0
        while t < T:
            kind, width = ("chunk", self.K) if T - t >= self.K else ("step", 1)
            out = interpreters[kind](np.ascontiguousarray(x[:, t:t + width]), h, c)
            ys.append(out["y"])
            h, c = out["hn"], out["cn"]
            t += width
        return {"y": np.concatenate(ys, axis=1), "hn": h, "cn": c}


class _Bound:
    """One signature of an interpreter at batch B, resized and allocated once; tensors then set and read by
    index in the signature's own subgraph. The public signature runner resizes and re-allocates on every
    call; its wrapper calls are used directly here (ai-edge-litert 2.3), and the public runner where a
    LiteRT build lacks them."""

    def __init__(self, it, signature: str, B: int):
        runner = it.get_signature_runner(signature)
        self.wrapper, self.graph = getattr(runner, "_interpreter_wrapper", None), getattr(runner, "_subgraph_index", None)
        self.runner = runner
        self.inputs = {n: d["index"] for n, d in runner.get_input_details().items()}
        self.outputs = {n: d["index"] for n, d in runner.get_output_details().items()}
        if self.wrapper is None or self.graph is None:
            return
        for name, d in runner.get_input_details().items():
            shape = np.array(d["shape"], np.int32)
            shape[0 if name == "x" else 1] = B
            self.wrapper.ResizeInputTensor(d["index"], shape, False, self.graph)
        self.wrapper.AllocateTensors(self.graph)

    def __call__(self, x: np.ndarray, h: np.ndarray, c: np.ndarray) -> dict:
        if self.wrapper is None or self.graph is None:
            return self.runner(x=x, h0=h, c0=c)
        w, g = self.wrapper, self.graph
        for name, value in (("x", x), ("h0", h), ("c0", c)):
            w.SetTensor(self.inputs[name], value, g)
        w.Invoke(g)
        return {name: w.GetTensor(index, g) for name, index in self.outputs.items()}
