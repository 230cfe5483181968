"""onnxruntime runner: one InferenceSession, inputs checked against the model's own I/O."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from lstm_edge.errors import InvalidInputError
from lstm_edge.runtime.contract import check_inputs, declare, run_by_row


class OnnxRuntimeRunner:
    def __init__(self, path: Path, *, threads: int = 1, info: dict | None = None):
        self.path = Path(path)
        self.name = f"onnxruntime:{self.path.name}"
        self.info = info or {}
        self.missing = dict(self.info.get("missing_outputs", {}))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3   # shape-hint warnings are ours to report, not ORT's to print
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # ORT raises its own exception types for bad models
            raise InvalidInputError(f"{self.path}: onnxruntime cannot load this model: {str(e)[:300]}")
        self.input_names = tuple(i.name for i in self.session.get_inputs())
        self.output_names = tuple(o.name for o in self.session.get_outputs())
        inputs = {i.name: i for i in self.session.get_inputs()}
        declared = {n: tuple(d if isinstance(d, int) else None for d in i.shape) for n, i in inputs.items()}
        x = inputs.get("x")                 # a graph without one is opened, and every call refused by name
        x_dtype = {"tensor(float)": "float32", "tensor(int64)": "int64"}.get(x.type, x.type) if x else None
        self.expected, self.unrolled, self.x_spec = declare(declared, self.info, self.path, x_dtype=x_dtype,
                                                            x_axes=tuple(x.shape) if x else None)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        check_inputs(feeds, self.expected, self.name, fixed=self.unrolled, spec=self.x_spec)
        if not self.info.get("batch_resizable", True) and feeds["x"].shape[self.x_spec.batch_axis] > 1:
            return run_by_row(self._invoke, feeds, self.output_names, self.x_spec)   # its rows would mix (contract.py)
        return self._invoke(feeds)

    def _invoke(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            outs = self.session.run(None, feeds)
        except Exception as e:   # inputs were checked above, so the model itself is at fault (fuzz: a Gather
            # index out of range, an LSTM weight of the wrong size): ORT raises its own exception types
            raise InvalidInputError(f"{self.path}: onnxruntime cannot run this model: {str(e)[:300]}",
                                    hint="the artefact is malformed; re-export it")
        return dict(zip(self.output_names, outs))
