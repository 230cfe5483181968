"""ONNX recipes: build one candidate file from the fp32 parent with the given options."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np


def build_onnx(recipe_name: str, options: dict, parent: Path, out: Path, calibration: list[dict]) -> dict:
    """Write the candidate to `out`; return facts for the sidecar."""
    if recipe_name == "onnx-int8-dynamic":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(parent), str(out), weight_type=QuantType.QInt8, per_channel=options["per_channel"])
        return {"runtimes": ["onnxruntime"],
                "note": "com.microsoft.DynamicQuantizeLSTM is an onnxruntime contrib op: other ONNX runtimes cannot run it"}
    if recipe_name == "onnx-int8-static":
        return _static(options, parent, out, calibration)
    if recipe_name == "onnx-fp16":
        if options["method"] == "onnxruntime.transformers.float16":
            import onnx
            from onnxruntime.transformers.float16 import convert_float_to_float16

            onnx.save(convert_float_to_float16(onnx.load(str(parent)), keep_io_types=True), str(out))
        else:
            _fp16_weights(parent, out)
        return {"runtimes": ["onnxruntime"], "compute": "float32 (the CPU provider has no fp16 LSTM kernel)"}
    raise ValueError(recipe_name)


def _static(options: dict, parent: Path, out: Path, calibration: list[dict]) -> dict:
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from lstm_edge.console_log import library_stdout

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.feeds = iter(calibration)

        def get_next(self):
            return next(self.feeds, None)

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(parent), str(pre), skip_symbolic_shape=True)
        with library_stdout():   # the Percentile calibrator prints its progress: the command's log, not our stdout
            quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ,
                            per_channel=options["per_channel"], op_types_to_quantize=options["op_types"],
                            calibrate_method=getattr(CalibrationMethod, options.get("calibrate", "MinMax")))
    return {"runtimes": ["onnxruntime"], "int8_ops": int8_consumers(out)}


def int8_consumers(path: Path) -> dict[str, str]:
    """Which ops read int8 data (through DequantizeLinear), and whether weights only or activations too."""
    import onnx

    g = onnx.load(str(path)).graph
    inits = {i.name for i in g.initializer}
    dq_out = {}   # DequantizeLinear output → is its source a stored weight?
    for n in g.node:
        if n.op_type == "DequantizeLinear":
            dq_out[n.output[0]] = n.input[0] in inits
    kinds: dict[str, set] = {}
    for n in g.node:
        for i in n.input:
            if i in dq_out and n.op_type not in ("QuantizeLinear", "DequantizeLinear"):
                kinds.setdefault(n.op_type, set()).add("weights" if dq_out[i] else "activations")
    return {op: " + ".join(sorted(k)) + " int8, computed in float" for op, k in sorted(kinds.items())}


def _fp16_weights(parent: Path, out: Path) -> None:
    """Store every float initializer as float16 and Cast it back to float32 where it is used.

    onnxruntime folds the Casts at session start, so it computes in float32 (the CPU provider
    has no float16 LSTM); the file is half the size and the weights carry fp16 rounding.
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(parent))
    g = model.graph
    casts, keep = [], []
    for init in g.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype == np.float32 and arr.size > 1:
            half = numpy_helper.from_array(arr.astype(np.float16), init.name + "_fp16")
            keep.append(half)
            casts.append(helper.make_node("Cast", [half.name], [init.name], to=onnx.TensorProto.FLOAT,
                                          name=init.name + "_to_fp32"))
        else:
            keep.append(init)
    del g.initializer[:]
    g.initializer.extend(keep)
    nodes = casts + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
