"""Steppers: the tuned streaming path — one step per call on a fixed batch, state kept in the
runtime's own buffers.

    s = open_stepper("tflite-step-fp32.tflite", batch=1)
    y = s.step(x_t)            # x_t (B, F) → y (B, O); state carried
    h, c = s.state; s.reset()

Same contract as Stream.step on one step, minus the per-call costs a Stream pays for
generality (measured on the default model, 1 thread, one step: Stream over the signature
runner 26 µs; set_tensor/invoke/get_tensor 11 µs; the same with XNNPACK 7 µs):
- LiteRT: inputs are resized once to (B, 1, F) and allocated, tensors are set and read by
  index (no signature-runner dicts), and the XNNPACK delegate is on — it takes the whole
  cell of a step artefact (FULLY_CONNECTED, LOGISTIC, TANH, MUL, ADD), and with the batch
  fixed it never has to re-plan a resized graph (the reason the general runner goes without it);
- onnxruntime: I/O binding with two preallocated state buffers that swap roles each step, so
  hn of one step is h0 of the next without a copy through numpy.
Only x is checked per call (dtype, shape, finite); the state never leaves the runtime.
tests/test_stream.py holds steppers to the Stream's numbers.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lstm_edge.errors import InvalidInputError

# How each runtime is driven, per use; recorded in bench.json and in each bundle manifest entry.
SETTINGS = {
    "onnxruntime": {"call": "InferenceSession, ORT_ENABLE_ALL, intra-op threads as asked (default 1), inter-op 1",
                    "step": "OrtStepper: I/O binding, two preallocated state buffers swapped each step"},
    "litert": {"call": "signature runner without delegates (the batch is resized per call, which XNNPACK "
                       "cannot re-plan; it has no LSTM kernel anyway)",
               "step": "LiteRTStepper: XNNPACK delegate, shapes fixed once, tensors set and read by index"},
    # a chunked sequence artefact (tflite-seq-*): runtime/litert_chunks.py
    "litert-chunked": {"call": "LiteRTChunkRunner: XNNPACK delegate, one interpreter per batch size, T // K calls of the "
                               "chunk signature then T % K of the step signature, tensors set and read by index",
                       "step": "ChunkStepper: the step signature, XNNPACK, shapes fixed once, tensors set by index"},
}


def _check_x(x: np.ndarray, shape: tuple, where: str) -> None:
    if not isinstance(x, np.ndarray) or x.dtype != np.float32 or x.shape != shape:
        got = (x.dtype, x.shape) if isinstance(x, np.ndarray) else type(x).__name__
        raise InvalidInputError(f"{where}: step input x is {got}, expected float32 {shape}")
    if not np.isfinite(x).all():
        raise InvalidInputError(f"{where}: step input x has a non-finite value")


class LiteRTStepper:
    def __init__(self, path: Path, *, threads: int = 1, batch: int = 1, xnnpack: bool = True):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        from lstm_edge.runtime.litert_runner import SIGNATURE

        self.path, self.batch = Path(path), batch
        self.name = f"litert-stepper:{self.path.name}"
        self.settings = {"runtime": "litert", "threads": threads, "xnnpack": xnnpack, "batch": batch,
                         "io": "set_tensor/get_tensor by index, fixed shapes"}
        resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        it = Interpreter(model_path=str(self.path), num_threads=threads, experimental_op_resolver_type=resolver)
        sig = it.get_signature_runner(SIGNATURE)
        ins, outs = sig.get_input_details(), sig.get_output_details()
        del sig   # it holds references into the interpreter; raw tensor access needs it gone
        if "cn" not in outs:
            raise InvalidInputError(f"{self.path} does not return the cell state 'cn', so it cannot step a stream",
                                    hint="use tflite-step-fp32.tflite (or one of its recipes)")
        if any(d["dtype"] != np.float32 for d in (*ins.values(), *outs.values())):
            raise InvalidInputError(f"{self.path}: the stepper takes float32 I/O only")
        self.L, _, self.H = (int(d) for d in ins["h0"]["shape"])
        self.F = int(ins["x"]["shape"][2])
        for name, shape in (("x", (batch, 1, self.F)), ("h0", (self.L, batch, self.H)), ("c0", (self.L, batch, self.H))):
            it.resize_tensor_input(ins[name]["index"], shape)
        it.allocate_tensors()          # XNNPACK is applied here, once, for these shapes
        self.it = it
        self.xi, self.hi, self.ci = (ins[k]["index"] for k in ("x", "h0", "c0"))
        self.yi, self.hni, self.cni = (outs[k]["index"] for k in ("y", "hn", "cn"))
        self.reset()

    def reset(self) -> None:
        zero = np.zeros((self.L, self.batch, self.H), np.float32)
        self.it.set_tensor(self.hi, zero)
        self.it.set_tensor(self.ci, zero)

    @property
    def state(self) -> tuple[np.ndarray, np.ndarray]:
        return self.it.get_tensor(self.hi), self.it.get_tensor(self.ci)

    def step(self, x: np.ndarray) -> np.ndarray:
        _check_x(x, (self.batch, self.F), self.name)
        it = self.it
        it.set_tensor(self.xi, x[:, None])
        it.invoke()
        it.set_tensor(self.hi, it.get_tensor(self.hni))
        it.set_tensor(self.ci, it.get_tensor(self.cni))
        return it.get_tensor(self.yi)[:, 0]


class ChunkStepper:
    """A chunked sequence artefact (tflite-seq-*, runtime/litert_chunks.py) stepped through its 'step'
    signature at a fixed batch: XNNPACK on, resized once, tensors set and read by index."""

    def __init__(self, path: Path, *, threads: int = 1, batch: int = 1, info: dict, xnnpack: bool = True):
        from lstm_edge.runtime.litert_chunks import LiteRTChunkRunner

        runner = LiteRTChunkRunner(path, threads=threads, info=info, xnnpack=xnnpack)
        self.path, self.batch, self.bound = Path(path), batch, runner.signature_at("step", batch)
        self.name = f"litert-stepper:{self.path.name}"
        self.settings = {"runtime": "litert", "threads": threads, "xnnpack": xnnpack, "batch": batch,
                         "io": "the artefact's 'step' signature, set_tensor/get_tensor by index, fixed shapes"}
        self.L, _, self.H = runner.expected["h0"]
        self.F = runner.expected["x"][2]
        self.reset()

    def reset(self) -> None:
        self.h = self.c = np.zeros((self.L, self.batch, self.H), np.float32)

    @property
    def state(self) -> tuple[np.ndarray, np.ndarray]:
        return self.h.copy(), self.c.copy()

    def step(self, x: np.ndarray) -> np.ndarray:
        _check_x(x, (self.batch, self.F), self.name)
        out = self.bound(np.ascontiguousarray(x[:, None]), self.h, self.c)
        self.h, self.c = out["hn"], out["cn"]
        return out["y"][:, 0]


class OrtStepper:
    def __init__(self, path: Path, *, threads: int = 1, batch: int = 1):
        import onnxruntime as ort

        from lstm_edge.runtime.onnxruntime_runner import OnnxRuntimeRunner

        runner = OnnxRuntimeRunner(path, threads=threads)     # the same session options as the runner
        self.path, self.batch, self.session = Path(path), batch, runner.session
        self.name = f"onnxruntime-stepper:{self.path.name}"
        self.settings = {"runtime": "onnxruntime", "threads": threads, "batch": batch,
                         "io": "I/O binding, two swapped state buffers", "graph_optimization": "ORT_ENABLE_ALL"}
        if "cn" not in runner.output_names:
            raise InvalidInputError(f"{self.path} does not return the cell state 'cn', so it cannot step a stream")
        self.L, _, self.H = runner.expected["h0"]
        self.F = runner.expected["x"][2]
        self.out_size = self.session.get_outputs()[0].shape[2]
        new = lambda *shape: ort.OrtValue.ortvalue_from_numpy(np.zeros(shape, np.float32))   # noqa: E731
        self.x = np.zeros((batch, 1, self.F), np.float32)
        self.x_value = ort.OrtValue.ortvalue_from_numpy(self.x)       # shares self.x's memory
        self.buffers = [[new(self.L, batch, self.H), new(self.L, batch, self.H)] for _ in range(2)]
        self.y = new(batch, 1, self.out_size)
        self.binding = self.session.io_binding()
        self.reset()

    def reset(self) -> None:
        for h, c in self.buffers:
            h.update_inplace(np.zeros((self.L, self.batch, self.H), np.float32))
            c.update_inplace(np.zeros((self.L, self.batch, self.H), np.float32))
        self.current = 0

    @property
    def state(self) -> tuple[np.ndarray, np.ndarray]:
        h, c = self.buffers[self.current]
        return h.numpy().copy(), c.numpy().copy()

    def step(self, x: np.ndarray) -> np.ndarray:
        _check_x(x, (self.batch, self.F), self.name)
        self.x[:, 0] = x
        (h, c), (hn, cn) = self.buffers[self.current], self.buffers[1 - self.current]
        b = self.binding
        b.bind_ortvalue_input("x", self.x_value)
        b.bind_ortvalue_input("h0", h)
        b.bind_ortvalue_input("c0", c)
        b.bind_ortvalue_output("y", self.y)
        b.bind_ortvalue_output("hn", hn)
        b.bind_ortvalue_output("cn", cn)
        self.session.run_with_iobinding(b)
        self.current = 1 - self.current
        return self.y.numpy()[:, 0].copy()


def open_stepper(path: str | Path, *, threads: int = 1, batch: int = 1, xnnpack: bool = True):
    """A stepper at a fixed batch. An artefact whose rows mix in a batch (its sidecar: "batch_resizable":
    false, see contract.py) is refused above batch 1: step one stepper per stream instead."""
    from lstm_edge.runtime.contract import read_info, unrolled

    path = Path(path)
    info = read_info(path)
    fixed = unrolled(info, path)
    if fixed is not None:   # a recurrence unrolled at T steps is not a one-step cell: stepping it answers wrongly
        raise InvalidInputError(f"{path}: takes exactly T = {fixed.steps} time steps per call (unrolled at export), "
                                "so it cannot step a stream", hint="step a streaming artefact (one that returns cn)")
    if batch > 1 and not info.get("batch_resizable", True):
        raise InvalidInputError(f"{path}: takes one stream per call (rows of a batch mix in this artefact: its "
                                f"probe measured it), so it cannot step a batch of {batch}",
                                hint="open one stepper per stream (batch=1)")
    if path.suffix in (".onnx", ".ort"):
        return OrtStepper(path, threads=threads, batch=batch)
    if path.suffix == ".tflite" and info.get("chunked"):
        return ChunkStepper(path, threads=threads, batch=batch, info=info, xnnpack=xnnpack)
    if path.suffix == ".tflite":
        return LiteRTStepper(path, threads=threads, batch=batch, xnnpack=xnnpack)
    raise InvalidInputError(f"{path}: no stepper for '{path.suffix}' files")
