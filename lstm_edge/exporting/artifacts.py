"""`lstm-edge export DIR`: write the fp32 artefacts of the checkpoint in DIR, each self-checked,
then the quantized artefacts of the recipes asked for. A recipe that cannot meet its budget
is refused: recorded in DIR/refusals.json with its figures, its old artefact removed."""
from __future__ import annotations

from pathlib import Path

from lstm_edge.files import read_json, sidecar_path, write_json_atomic
from lstm_edge.train.checkpoint import load_checkpoint
from lstm_edge.errors import QuantizationRefused, UsageError
from lstm_edge.model.spec import spec_from_dict

FORMATS = ("onnx", "tflite")
REFUSALS = "refusals.json"
ARTIFACTS = {"onnx": "onnx-fp32.onnx", "tflite": "tflite-fp32.tflite", "tflite-step": "tflite-step-fp32.tflite",
             "tflite-seq": "tflite-seq-fp32.tflite"}


def export(directory: Path, formats: list[str], *, recipes: list[str] = (), progress=None) -> tuple[list[dict], list[dict]]:
    """→ (sidecars of the artefacts written, refusals). A failed self-check raises ConversionError."""
    from lstm_edge.model.network import load_model

    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise UsageError(f"unknown format(s) {unknown}; choose from {list(FORMATS)}")
    directory = Path(directory)
    say = progress or (lambda msg: None)
    written = []
    if formats:        # the fp32 artefacts of a spec's checkpoint (a project's are written by prepare)
        if (directory / "model.json").is_file() and read_json(directory / "model.json").get("kind") == "project":
            raise UsageError(f"{directory} holds your own module (a project): its fp32 artefacts are written by "
                             "lstm-edge pipeline --project, checked against your module where they are made",
                             hint=f"quantize them with lstm-edge export {directory} --only-quantize --quantize RECIPE")
        tensors, meta = load_checkpoint(directory)
        spec = spec_from_dict(meta["spec"], where=f"{directory / 'model.json'}: spec")
        dims, model = meta["dims"], load_model(tensors, meta["dims"])
    if "onnx" in formats:
        from lstm_edge.converters.to_onnx import to_onnx

        say("exporting ONNX (native LSTM op)")
        written.append(to_onnx(model, dims, directory / ARTIFACTS["onnx"], spec.budget("pytorch", "onnx-fp32")))
    if "tflite" in formats:
        from lstm_edge.converters.to_tflite import to_tflite

        say("exporting TFLite (fused UNIDIRECTIONAL_SEQUENCE_LSTM, builtins only)")
        written.append(to_tflite(model, tensors, dims, directory / ARTIFACTS["tflite"],
                                 spec.budget("pytorch", "tflite-fp32")))
        from lstm_edge.converters.to_tflite_step import to_tflite_step

        say("exporting the TFLite step artefact (streaming: returns the cell state)")
        written.append(to_tflite_step(model, tensors, dims, directory / ARTIFACTS["tflite-step"],
                                      spec.budget("pytorch", "tflite-step-fp32")))
        from lstm_edge.converters.to_tflite_seq import to_tflite_seq

        say("exporting the TFLite chunked sequence artefact (builtin ops XNNPACK takes, any T)")
        written.append(to_tflite_seq(model, tensors, dims, directory / ARTIFACTS["tflite-seq"],
                                     spec.budget("pytorch", "tflite-seq-fp32")))
    refused = []
    if recipes:
        from lstm_edge.exporting.quantize import quantize
        from lstm_edge.converters.recipes import recipe

        for name in recipes:
            r = recipe(name)
            artifact = directory / f"{r.name}{r.suffix}"
            try:
                written.append(quantize(directory, name, progress=say))
            except QuantizationRefused as e:
                say(f"{name}: refused — {e.message}")
                artifact.unlink(missing_ok=True)
                sidecar_path(artifact).unlink(missing_ok=True)
                refused.append(e.record | {"reason": e.message})
            _record_refusals(directory, name, refused)
    return written, refused


def _record_refusals(directory: Path, name: str, refused: list[dict]) -> None:
    """DIR/refusals.json holds the latest verdict per recipe: a success clears an old refusal."""
    path = directory / REFUSALS
    old = [r for r in (read_json(path) if path.exists() else []) if r["recipe"] != name]
    new = old + [r for r in refused if r["recipe"] == name]
    if new:
        write_json_atomic(path, new)
    else:
        path.unlink(missing_ok=True)
