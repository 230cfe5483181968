"""LiteRT runner: the model's serving signature, resized to the inputs of every call.

The fused LSTM kernel keeps no variable tensors in our artefacts (the initial state comes
in through ordinary inputs), so nothing leaks from one call into the next.

- "batch_resizable": false in the sidecar: the artefact is run one sequence per call and
  the rows stacked — LiteRT's integer LSTM aborts the process when its batch is resized.
- int8 inputs/outputs (the tflite-int8-io recipe): values are quantized with the tensor's
  own scale and zero point on the way in and dequantized on the way out — explicitly,
  as the artefact declares, never as a silent cast of the caller's data.
- a user's module (BYO): x in its own layout and dtype, as the sidecar says (contract.XSpec):
  the batch axis of a time-major x (T, B, F) is resized, int64 token ids are passed as they are.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from lstm_edge.errors import InvalidInputError
from lstm_edge.runtime.contract import check_inputs, declare, run_by_row, x_spec

SIGNATURE = "serving_default"


class LiteRTRunner:
    def __init__(self, path: Path, *, threads: int = 1, info: dict | None = None):
        self.path = Path(path)
        self.name = f"litert:{self.path.name}"
        self.info = info or {}
        self.missing = dict(self.info.get("missing_outputs", {}))
        try:
            # Without the default XNNPACK delegate: it has no LSTM kernel anyway, and it fails
            # to re-plan a graph whose batch was resized ("XNNPack delegate failed to reshape").
            self.interpreter = Interpreter(model_path=str(self.path), num_threads=threads,
                                           experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
            signatures = self.interpreter.get_signature_list()
        except (ValueError, RuntimeError) as e:
            raise InvalidInputError(f"{self.path}: LiteRT cannot load this model: {str(e)[:300]}")
        if SIGNATURE not in signatures:
            raise InvalidInputError(f"{self.path}: no '{SIGNATURE}' signature (found {list(signatures)})")
        self.batch_resizable = self.info.get("batch_resizable", True)
        try:
            self._read_signature()
        except (ValueError, RuntimeError, KeyError, IndexError, TypeError) as e:   # fuzz: undecodable names, …
            raise InvalidInputError(f"{self.path}: its '{SIGNATURE}' signature is not x[, h0[, c0]] → y[, hn[, cn]] "
                                    f"as lstm-edge writes it ({type(e).__name__}: {str(e)[:200]})",
                                    hint="the artefact is malformed or not an lstm-edge export")

    def _read_signature(self) -> None:
        self.runner = self.interpreter.get_signature_runner(SIGNATURE)
        inputs = self.runner.get_input_details()
        self.in_quant = {n: d["quantization"] for n, d in inputs.items() if d["dtype"] == np.int8}
        self.out_quant = {n: d["quantization"] for n, d in self.runner.get_output_details().items()
                          if d["dtype"] == np.int8}
        self.input_names = tuple(sorted(inputs, key=("x", "h0", "c0").index))
        self.output_names = tuple(sorted(self.runner.get_output_details(), key=("y", "hn", "cn").index))
        # The fused kernel is converted at batch 1 and resized per call, so the batch is dynamic
        # whatever the static shape says; the time axis is whatever the signature declares
        # (-1 for sequence artefacts, 1 for step artefacts, T for an unrolled BYO graph), and
        # is held here: LiteRT's signature runner would resize a declared T without a word.
        # Which axis is which is the sidecar's x layout ((T, B, F) for a time-major module).
        sig = {n: [int(d) for d in inputs[n]["shape_signature"]] for n in inputs}
        bx = x_spec(self.info, self.path).batch_axis
        declared = {"x": tuple(None if k == bx or d == -1 else d for k, d in enumerate(sig["x"]))}
        declared |= {s: (sig[s][0], None, *sig[s][2:]) for s in ("h0", "c0") if s in sig}   # a GRU has no c0
        if "h0" not in declared and list(self.info.get("inputs", [])) != ["x"]:   # x → y: a module of several
            raise KeyError("h0")                                                   # layers (sidecar inputs ["x"])
        x_dtype = "int64" if inputs["x"]["dtype"] == np.int64 else np.dtype(inputs["x"]["dtype"]).name
        self.expected, self.unrolled, self.x_spec = declare(declared, self.info, self.path, x_dtype=x_dtype)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        check_inputs(feeds, self.expected, self.name, fixed=self.unrolled, spec=self.x_spec)
        if self.batch_resizable or feeds["x"].shape[self.x_spec.batch_axis] == 1:
            return self._invoke(feeds)
        return run_by_row(self._invoke, feeds, self.output_names, self.x_spec)

    def _invoke(self, feeds: dict) -> dict:
        args = {}
        for k, v in feeds.items():
            if k in self.in_quant:
                scale, zero = self.in_quant[k]
                v = np.clip(np.round(v / scale + zero), -128, 127).astype(np.int8)
            args[k] = np.ascontiguousarray(v)
        try:
            outs = self.runner(**args)
        except (RuntimeError, ValueError) as e:   # resize/allocate of a malformed graph (fuzz: "Invalid tensor index")
            raise InvalidInputError(f"{self.path}: LiteRT cannot run this model: {str(e)[:300]}",
                                    hint="the artefact is malformed; re-export it")
        result = {}
        for k in self.output_names:
            v = np.array(outs[k])
            if k in self.out_quant:
                scale, zero = self.out_quant[k]
                v = ((v.astype(np.float32) - zero) * scale).astype(np.float32)
            result[k] = v
        return result
