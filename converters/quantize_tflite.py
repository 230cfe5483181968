"""TFLite recipes: convert the Keras twin again with the converter's quantization options."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lstm_edge.files import write_bytes_atomic
from lstm_edge.converters.to_tflite import OUTPUTS, convert_keras


def build_tflite(recipe_name: str, options: dict, tensors: dict, dims: dict, out: Path,
                 calibration: list[dict]) -> dict:
    if recipe_name.startswith("tflite-step-"):
        return _build_step(recipe_name, tensors, dims, out)
    if recipe_name.startswith("tflite-seq-"):
        return _build_seq(recipe_name, tensors, dims, out)
    outputs = OUTPUTS
    if recipe_name == "tflite-dynamic-range":
        def setup(c, tf):
            c.optimizations = [tf.lite.Optimize.DEFAULT]
    elif recipe_name == "tflite-fp16":
        def setup(c, tf):
            c.optimizations = [tf.lite.Optimize.DEFAULT]
            c.target_spec.supported_types = [tf.float16]
    elif recipe_name in ("tflite-int8", "tflite-int8-io"):
        # The int8 quantizer requires each LSTM output to have one consumer, so hn (a slice of
        # the last layer's output) cannot be an output: these artefacts return y only.
        outputs = ("y",)
        samples = calibration[:options["windows"]]

        def setup(c, tf):
            c.optimizations = [tf.lite.Optimize.DEFAULT]
            c.representative_dataset = lambda: (dict(s) for s in samples)
            c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            if options.get("int8_io"):
                c.inference_input_type = tf.int8
                c.inference_output_type = tf.int8
    else:
        raise ValueError(recipe_name)
    blob, fixups = convert_keras(tensors, dims, str(out), outputs=outputs, setup=setup,
                                 unclip=not options.get("keep_cell_clip", False))
    write_bytes_atomic(out, blob)
    facts = {"outputs": list(outputs), "converter_fixups": fixups, "runtimes": ["litert"],
             "weight_bytes_by_dtype": weight_bytes(out)}
    if outputs != OUTPUTS:
        facts["missing_outputs"] = {
            "hn": "the int8 quantizer requires one consumer per LSTM output, so the last step cannot be exported",
            "cn": "the fused UNIDIRECTIONAL_SEQUENCE_LSTM kernel does not expose its cell state"}
    return facts


def weight_bytes(path: Path) -> dict[str, int]:
    """Bytes of constant tensors by dtype: shows what a recipe really stored as int8."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    inputs = {d["index"] for d in it.get_input_details()}
    out: dict[str, int] = {}
    for t in it.get_tensor_details():
        n = int(np.prod(t["shape"])) if len(t["shape"]) else 1
        if t["index"] in inputs or n < 64:
            continue
        try:
            it.get_tensor(t["index"])   # constants have data before allocation; activations raise
        except ValueError:
            continue
        out[np.dtype(t["dtype"]).name] = out.get(np.dtype(t["dtype"]).name, 0) + n * np.dtype(t["dtype"]).itemsize
    return out


def weight_recipe(recipe_name: str):
    """The converter options of a weights-only recipe: dynamic range (int8 weights) or fp16 weights."""
    def setup(c, tf):
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        if recipe_name.endswith("-fp16"):
            c.target_spec.supported_types = [tf.float16]
    return setup


def _build_seq(recipe_name: str, tensors: dict, dims: dict, out: Path) -> dict:
    """The chunked sequence graph (converters/to_tflite_seq.py) with weight quantization."""
    from lstm_edge.converters.to_tflite_seq import CHUNK_STEPS, chunked_facts, convert_seq

    write_bytes_atomic(out, convert_seq(tensors, dims, str(out), setup=weight_recipe(recipe_name), K=CHUNK_STEPS))
    return chunked_facts(CHUNK_STEPS) | {"weight_bytes_by_dtype": weight_bytes(out)}


def _build_step(recipe_name: str, tensors: dict, dims: dict, out: Path) -> dict:
    """The cell-step graph (converters/to_tflite_step.py) with weight quantization."""
    from lstm_edge.converters.tensorflow_env import import_tensorflow, quiet_stderr
    from lstm_edge.converters.to_tflite_step import step_function

    tf, _ = import_tensorflow()
    holder = tf.Module()
    holder.step = step_function(tensors, dims)
    c = tf.lite.TFLiteConverter.from_concrete_functions([holder.step.get_concrete_function()], holder)
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    weight_recipe(recipe_name)(c, tf)
    with quiet_stderr():
        write_bytes_atomic(out, c.convert())
    return {"runtimes": ["litert"], "streaming": True, "chunk": 1, "weight_bytes_by_dtype": weight_bytes(out)}
