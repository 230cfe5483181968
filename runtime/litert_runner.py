"""LiteRT runner: the model's serving signature, resized to the inputs of every call.

The fused LSTM kernel keeps no variable tensors in our artefacts (the initial state comes
in through ordinary inputs), so nothing leaks from one call into the next; the runner
still re-creates its signature runner when shapes change rather than reuse stale buffers.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from lstm_edge.errors import InvalidInputError
from lstm_edge.runtime.runner import check_inputs

SIGNATURE = "serving_default"


class LiteRTRunner:
    def __init__(self, path: Path, *, threads: int = 1):
        self.path = Path(path)
        self.name = f"litert:{self.path.name}"
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
        self.runner = self.interpreter.get_signature_runner(SIGNATURE)
        inputs = self.runner.get_input_details()
        self.input_names = tuple(sorted(inputs, key=("x", "h0", "c0").index))
        self.output_names = tuple(sorted(self.runner.get_output_details(), key=("y", "hn", "cn").index))
        # The fused kernel is converted at batch 1 and resized per call, so batch (and time)
        # are dynamic here whatever the static shape says: x (B, T, F), h0/c0 (L, B, H).
        sig = {n: inputs[n]["shape_signature"] for n in inputs}
        self.expected = {"x": (None, None, int(sig["x"][2])),
                         "h0": (int(sig["h0"][0]), None, int(sig["h0"][2])),
                         "c0": (int(sig["c0"][0]), None, int(sig["c0"][2]))}

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        check_inputs(feeds, self.expected, self.name)
        outs = self.runner(**{k: np.ascontiguousarray(v) for k, v in feeds.items()})
        return {k: np.array(outs[k]) for k in self.output_names}
