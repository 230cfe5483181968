"""open_runner: the Runner for an artefact, chosen by its file type (the contract: contract.py).

    runner = open_runner("onnx-fp32.onnx")             # a pure function of x, h0, c0
    runner = open_sequence_runner("tflite-step-fp32.tflite")   # a step artefact, whole sequences

The artefact's sidecar (if any) becomes `runner.info`; it says whether the batch may be resized
(LiteRT's integer LSTM may not: measured abort at B = 2), whether the artefact must run isolated
in a child process (its probe crashed), which outputs it cannot return (`runner.missing`), and
the one T an unrolled artefact takes ("fixed_time_steps", held by every runner: contract.py).
"""
from __future__ import annotations

from pathlib import Path

from lstm_edge.errors import InvalidInputError
from lstm_edge.runtime.contract import Runner, is_step_artifact, read_info
from lstm_edge.runtime.sniff import SUFFIX_KIND, expect


def open_runner(path: str | Path, *, threads: int = 1, in_process: bool = False) -> Runner:
    path = Path(path)
    suffix = path.suffix.lower()
    info = read_info(path)
    if info.get("isolate") and not in_process:
        from lstm_edge.runtime.child import ChildRunner

        inner = open_runner(path, threads=threads, in_process=True)   # names and shapes only; never run here
        return ChildRunner(path, inner)
    if suffix in SUFFIX_KIND and suffix != ".npz":
        expect(path, SUFFIX_KIND[suffix])   # by its first bytes: a .pt renamed .onnx is named as such
    if suffix == ".onnx":
        from lstm_edge.runtime.onnx_scan import scan_onnx

        scan_onnx(path)                     # external data outside the directory, raw bytes vs dims
    if suffix in (".onnx", ".ort"):
        from lstm_edge.runtime.onnxruntime_runner import OnnxRuntimeRunner

        return OnnxRuntimeRunner(path, threads=threads, info=info)
    if suffix == ".tflite" and info.get("chunked"):   # a sequence run as chunks and steps (tflite-seq-*)
        from lstm_edge.runtime.litert_chunks import LiteRTChunkRunner

        return LiteRTChunkRunner(path, threads=threads, info=info)
    if suffix == ".tflite":
        from lstm_edge.runtime.litert_runner import LiteRTRunner

        return LiteRTRunner(path, threads=threads, info=info)
    raise InvalidInputError(f"{path}: no runner for '{suffix}' files", hint="expected .onnx, .ort or .tflite")


def open_sequence_runner(path: str | Path, **kwargs) -> Runner:
    """open_runner, but able to take a whole sequence where the artefact can: a step artefact gets a
    SequenceRunner. An artefact unrolled at a fixed T (sidecar "fixed_time_steps") is returned as it
    is and refuses any other T (contract.py): chunking it would answer a question it was not built for."""
    from lstm_edge.runtime.stream import SequenceRunner

    runner = open_runner(path, **kwargs)
    return SequenceRunner(runner) if is_step_artifact(runner) else runner
