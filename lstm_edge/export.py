"""`lstm-edge export DIR`: write the fp32 artefacts of the checkpoint in DIR, each self-checked."""
from __future__ import annotations

from pathlib import Path

from lstm_edge.checkpoint import load_checkpoint
from lstm_edge.errors import UsageError
from lstm_edge.spec import spec_from_dict

FORMATS = ("onnx", "tflite")
ARTIFACTS = {"onnx": "onnx-fp32.onnx", "tflite": "tflite-fp32.tflite"}


def export(directory: Path, formats: list[str], *, progress=None) -> list[dict]:
    """→ the sidecar of every artefact written. A failed self-check raises ConversionError."""
    from lstm_edge.model import load_model

    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise UsageError(f"unknown format(s) {unknown}; choose from {list(FORMATS)}")
    directory = Path(directory)
    tensors, meta = load_checkpoint(directory)
    spec = spec_from_dict(meta["spec"], where=f"{directory / 'model.json'}: spec")
    dims, model = meta["dims"], load_model(tensors, meta["dims"])
    say = progress or (lambda msg: None)
    written = []
    if "onnx" in formats:
        from lstm_edge.converters.to_onnx import to_onnx

        say("exporting ONNX (native LSTM op)")
        written.append(to_onnx(model, dims, directory / ARTIFACTS["onnx"], spec.budget("pytorch", "onnx-fp32")))
    if "tflite" in formats:
        from lstm_edge.converters.to_tflite import to_tflite

        say("exporting TFLite (fused UNIDIRECTIONAL_SEQUENCE_LSTM, builtins only)")
        written.append(to_tflite(model, tensors, dims, directory / ARTIFACTS["tflite"],
                                 spec.budget("pytorch", "tflite-fp32")))
    return written
