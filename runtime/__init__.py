"""What ships to the device: numpy plus one runtime (onnxruntime or ai-edge-litert).

Never imports torch, tensorflow, onnx, typer or rich (tests/test_runtime_boundary.py).
Runtimes are imported lazily, so a device with only one of them installed can use it.
"""
from lstm_edge.runtime.contract import Runner, check_inputs
from lstm_edge.runtime.runner import open_runner, open_sequence_runner
from lstm_edge.runtime.stream import Stream

__all__ = ["Runner", "Stream", "check_inputs", "open_runner", "open_sequence_runner"]
