"""Quantization recipes as named data. One function (quantize.quantize) applies any of them.

Each recipe names its format, its parent (the fp32 artefact of the same format, which it is
judged against), and a list of attempts: option sets tried in order. Every attempt is
built, probed in a child process, and scored on the calibration windows (mean |y − parent|);
the best is kept and all are recorded in the sidecar, so a refusal or a weak result comes
with the measured figures of what was tried. The test split is never used to choose.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Recipe:
    name: str
    format: str                 # "onnx" | "tflite"
    parent: str                 # the fp32 stage of the same format
    precision: str              # what is stored: "int8", "int8-weights", "fp16-weights"
    summary: str
    attempts: tuple[dict, ...] = field(default_factory=lambda: ({},))

    @property
    def suffix(self) -> str:
        return ".onnx" if self.format == "onnx" else ".tflite"


RECIPES: dict[str, Recipe] = {r.name: r for r in (
    Recipe("onnx-int8-dynamic", "onnx", "onnx-fp32", "int8-weights",
           "onnxruntime dynamic quantization: int8 weights, activations quantized per call; the LSTM "
           "becomes com.microsoft.DynamicQuantizeLSTM, which only onnxruntime runs",
           ({"per_channel": False}, {"per_channel": True})),
    Recipe("onnx-int8-static", "onnx", "onnx-fp32", "int8",
           "calibrated QDQ (onnxruntime quantize_static) on training windows; the LSTM op itself "
           "stays float: its weights are stored int8 and dequantized",
           # Not offered: QDQ on every op (op_types None) also quantizes the graph inputs, clipping
           # them to the calibrated range — measured on a tiny model's 10 000-step stream of fresh
           # data: |Δy| 0.63 at n = 100 and 10 at n = 10 000, while validation MAE looked fine.
           ({"op_types": ["LSTM", "MatMul"], "per_channel": True},
            {"op_types": ["LSTM", "MatMul"], "per_channel": True, "calibrate": "Percentile"})),
    Recipe("onnx-fp16", "onnx", "onnx-fp32", "fp16-weights",
           "float16 weights with float32 I/O that onnxruntime CPU runs",
           ({"method": "onnxruntime.transformers.float16"}, {"method": "fp16-weights-cast"})),
    Recipe("tflite-dynamic-range", "tflite", "tflite-fp32", "int8-weights",
           "TFLite dynamic-range quantization: int8 weights, float activations (hybrid kernels)"),
    Recipe("tflite-fp16", "tflite", "tflite-fp32", "fp16-weights",
           "TFLite float16 weights, dequantized to float32 at load"),
    Recipe("tflite-step-dynamic-range", "tflite", "tflite-step-fp32", "int8-weights",
           "the streaming step artefact with int8 weights (dynamic-range quantization)"),
    Recipe("tflite-step-fp16", "tflite", "tflite-step-fp32", "fp16-weights",
           "the streaming step artefact with float16 weights"),
    Recipe("tflite-seq-dynamic-range", "tflite", "tflite-seq-fp32", "int8-weights",
           "the chunked sequence artefact (XNNPACK-friendly builtins) with int8 weights (dynamic-range quantization)"),
    Recipe("tflite-seq-fp16", "tflite", "tflite-seq-fp32", "fp16-weights",
           "the chunked sequence artefact with float16 weights"),
    Recipe("tflite-int8", "tflite", "tflite-fp32", "int8",
           "TFLite full integer (int8 weights and activations, int16 cell state) from a representative "
           "dataset of training windows; float32 I/O",
           ({"windows": 64}, {"windows": 256}, {"windows": 256, "keep_cell_clip": True})),
    Recipe("tflite-int8-io", "tflite", "tflite-fp32", "int8",
           "tflite-int8 with int8 input and output tensors (for integer-only accelerators)",
           ({"windows": 256, "int8_io": True},)),
)}


def recipe(name: str) -> Recipe:
    from lstm_edge.errors import UsageError

    if name not in RECIPES:
        raise UsageError(f"unknown quantization recipe '{name}'", hint=f"choose from {', '.join(RECIPES)}")
    return RECIPES[name]
