"""quantize(directory, recipe): build every attempt of a recipe, keep the best, check it.

Each candidate is probed in a child process (a native crash there is recorded, not
suffered), then scored on the validation windows: its task metric (forecast MAE, MSE, accuracy,
bits/char) against the fp32 parent's. The best attempt is published with a sidecar listing every attempt and its
figures. If none meets the recipe's budget (spec tolerance: metric_increase), the recipe
is refused with those figures (QuantizationRefused, exit 1) and nothing is published.
The test split is never used here: `verify` judges on it afterwards.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from lstm_edge.files import read_sidecar, sidecar_path, write_json_atomic, write_sidecar
from lstm_edge.converters.recipes import recipe as get_recipe
from lstm_edge.errors import InvalidInputError, QuantizationRefused


def quantize(directory: Path, recipe_name: str, *, progress=None) -> dict:
    from lstm_edge.runtime.probe import probe
    from lstm_edge.runtime.runner import open_sequence_runner as open_runner

    from lstm_edge.source import open_source

    say = progress or (lambda msg: None)
    r = get_recipe(recipe_name)
    directory = Path(directory)
    source = open_source(directory)                   # a spec's model or a user's project: one chain
    if r.name not in source.recipes:
        raise InvalidInputError(f"{recipe_name} does not apply to {source.name} ({source.kind}); "
                                f"recipes that do: {', '.join(source.recipes)}")
    parent_path = directory / f"{r.parent}{r.suffix}"
    if not parent_path.exists():
        raise InvalidInputError(f"{recipe_name} quantizes {parent_path.name}, which is not in {directory}",
                                hint=f"run lstm-edge export {directory} --format {r.format} first")
    parent_info = read_sidecar(parent_path)
    budget = source.budget(r.parent, r.name)
    feeds = source.calibration_feeds()
    from lstm_edge.runtime.budget import format_increase, metric_verdict, worsening

    task, val = source.task, source.val_set()
    val_feeds = source.zero_state_feeds(val["x"], val.get("lengths"))

    def val_score(runner) -> tuple[float, np.ndarray]:
        y = runner.run(val_feeds)["y"]
        return task.score(y, val)["value"], y

    def worse(value: float) -> float:   # relative, for the worse: +0.02 = 2 % worse than the parent
        return worsening(value, parent_value, task.lower_is_better)

    parent_value, parent_y = val_score(open_runner(parent_path))
    out_path = directory / f"{r.name}{r.suffix}"
    attempts, best = [], None
    work = Path(tempfile.mkdtemp(dir=directory, prefix=f".{r.name}."))
    try:
        for k, options in enumerate(r.attempts):
            say(f"{r.name}: attempt {k + 1}/{len(r.attempts)} {options or ''}")
            candidate = work / f"attempt{k}{r.suffix}"
            record = {"options": options}
            try:
                facts = _build(r, options, parent_path, candidate, source, feeds)
            except Exception as e:  # converters/quantizers raise many types; the attempt is recorded
                attempts.append(record | {"result": f"build failed: {str(e).strip().splitlines()[-1][:300]}"})
                continue
            broken = graph_failures(candidate, recurrent_ops(parent_path), loops_allowed=has_while(parent_path))
            if broken:
                attempts.append(record | {"result": "graph check failed: " + "; ".join(broken)})
                continue
            contract = {k: parent_info[k] for k in INHERITED if k in parent_info}   # its I/O, as the runners read it
            write_json_atomic(sidecar_path(candidate), contract)
            probed = probe(candidate)
            record |= {"probe": {str(b): v for b, v in probed.items()}, "size_bytes": candidate.stat().st_size}
            if probed[1] != "ok":
                attempts.append(record | {"result": f"does not run at batch 1: {probed[1]}"})
                continue
            record["quantized_weight_fraction"] = share = quantized_share(candidate, r.precision)
            if share < MIN_QUANTIZED_SHARE:     # e.g. ORT's quantizers on a GRU: only the head's MatMul is int8
                attempts.append(record | {"result": f"only {100 * share:.0f} % of its weights are stored as "
                                                    f"{STORED[r.precision]} (the rest stay float): the recipe does not "
                                                    "reach this graph's recurrent op"})
                continue
            facts["batch_resizable"] = all(v == "ok" for v in probed.values())
            facts["isolate"] = any(v.startswith("crashed") for v in probed.values())
            # the runner reads both from the sidecar; candidates are only ever run in a child
            write_json_atomic(sidecar_path(candidate), contract | {"batch_resizable": facts["batch_resizable"], "isolate": True})
            try:
                value, y = val_score(open_runner(candidate))
            except InvalidInputError as e:   # crashed or failed in its child process
                attempts.append(record | {"result": f"failed on the validation windows: {e.message}"})
                continue
            record |= {"result": "ok", "val_metric": value, "val_metric_increase": worse(value),
                       "val_mean_abs_error_vs_parent": float(np.abs(y - parent_y).mean())}
            attempts.append(record)
            if best is None or worse(value) < worse(best[0]):
                best = (value, candidate, facts, options)
        value, candidate, facts, options = best or (None, None, None, None)
        increase = None if best is None else worse(value)
        if best is None or not metric_verdict(value, parent_value, task.lower_is_better, budget.metric_increase)["passed"]:
            tried = "; ".join(f"{a['options']}: " + (f"{task.metric} {a['val_metric']:.4f} "
                                                      f"({format_increase(a['val_metric_increase'], 1)} worse)"
                                                      if a["result"] == "ok" else a["result"]) for a in attempts)
            verdict = ("no attempt is usable" if best is None else
                       f"validation {task.metric} {value:.4f} is {format_increase(increase, 1)} worse than {r.parent}'s {parent_value:.4f}")
            allowed = "none set" if budget.metric_increase is None else format_increase(budget.metric_increase, 1)
            raise QuantizationRefused(
                f"{r.name}: {verdict}; budget {allowed}. Tried: {tried}",
                record={"recipe": r.name, "parent": r.parent, "metric": task.metric, "parent_val_metric": parent_value,
                        "best_val_metric": value, "val_metric_increase": increase,
                        "budget_metric_increase": budget.metric_increase, "attempts": attempts},
                hint="the recipe is not published; see the attempts for what was measured")
        os.replace(candidate, out_path)
        sidecar_path(candidate).unlink(missing_ok=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    info = {"kind": "artifact", "format": r.format, "precision": r.precision, "parent": r.parent,
            "recipe": r.name, "recipe_summary": r.summary, "options": options, "attempts": attempts,
            "missing_outputs": parent_info.get("missing_outputs", {}), "parent_size_bytes": parent_info["size_bytes"],
            "metric": task.metric, "val_metric": value, "parent_val_metric": parent_value, "val_metric_increase": increase}
    info |= {k: parent_info[k] for k in INHERITED if k in parent_info}   # the same I/O contract as its parent
    info |= facts
    info["ops"] = _ops(out_path)
    return write_sidecar(out_path, info)


# What a quantized artefact keeps of its parent's sidecar: its I/O contract (names, layout, the one T
# an unrolled graph takes, the x layout and dtype of a user's module, the chunk and step signatures of a
# chunked sequence artefact), which the runners read.
INHERITED = ("inputs", "outputs", "layout", "fixed_time_steps", "path_taken", "why", "x_layout", "x_dtype", "vocab_size",
             "y_batch_axis", "sequence_inputs", "chunked")
RECURRENT_OPS = ("LSTM", "DynamicQuantizeLSTM", "GRU")     # ONNX's fused recurrent ops (ORT's contrib one included)
# A recipe is published only if most weights are stored in its type: an "int8" artefact whose recurrent
# weights stayed float (measured: ORT's dynamic and static quantizers on a GRU quantize the head alone,
# 1.05× the fp32 size) is not what a user choosing int8 asks for.
STORED = {"int8": "int8", "int8-weights": "int8", "fp16-weights": "float16"}
MIN_QUANTIZED_SHARE = 0.5


def quantized_share(path: Path, precision: str) -> float:
    """The share of weight elements (constant tensors of ≥ 64 elements: not scales, zero points or
    shapes) stored as the recipe's type."""
    want = STORED[precision]
    counts: dict[str, int] = {}
    if path.suffix == ".onnx":
        import onnx
        from onnx import helper

        for t in onnx.load(str(path)).graph.initializer:
            n = int(np.prod(t.dims)) if len(t.dims) else 1
            if n >= 64:
                name = np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type)).name
                counts[name] = counts.get(name, 0) + n
    else:
        from lstm_edge.converters.quantize_tflite import weight_bytes

        counts = {k: v // np.dtype(k).itemsize for k, v in weight_bytes(path).items()}
    total = sum(counts.values())
    return counts.get(want, 0) / total if total else 0.0


def _build(r, options, parent_path, candidate, source, feeds) -> dict:
    if r.format == "onnx":
        from lstm_edge.converters.quantize_onnx import build_onnx

        return build_onnx(r.name, options, parent_path, candidate, feeds)
    return source.build_tflite(r.name, options, candidate, feeds)


def recurrent_ops(path: Path) -> int:
    """How many fused recurrent ops a graph has (an unrolled or step graph: 0)."""
    if path.suffix == ".onnx":
        import onnx

        return sum(n.op_type in RECURRENT_OPS for n in onnx.load(str(path)).graph.node)
    from lstm_edge.converters.to_tflite import FUSED_OP, tflite_ops

    return tflite_ops(path).count(FUSED_OP)


def has_while(path: Path) -> bool:
    """A user's any-T general TFLite graph is a builtin WHILE per layer (lstm_edge/byo/tf_graph.py)."""
    from lstm_edge.converters.to_tflite import tflite_ops

    return path.suffix == ".tflite" and "WHILE" in tflite_ops(path)


def graph_failures(path: Path, layers: int, *, loops_allowed: bool = False) -> list[str]:
    """A quantized graph must keep every fused recurrent op of its parent (one per layer; none for a
    step or unrolled graph), no loops (unless its parent is a WHILE graph), builtin ops only (TFLite)."""
    fused = recurrent_ops(path)
    if path.suffix == ".onnx":
        import onnx

        loops = sorted({n.op_type for n in onnx.load(str(path)).graph.node if n.op_type in ("Loop", "Scan")})
    else:
        from lstm_edge.converters.to_tflite import tflite_ops, variable_tensors

        loops = sorted({o for o in tflite_ops(path) if (o == "WHILE" and not loops_allowed) or o.startswith("Flex")
                        or o == "CUSTOM"})
        loops += [f"variable tensor {n}" for n in variable_tensors(path)]
    problems = [f"{fused} fused recurrent op(s), expected {layers} as in its parent"] if fused != layers else []
    return problems + ([f"loop or non-builtin ops {loops}"] if loops else [])


def _ops(path: Path) -> list[str]:
    if path.suffix == ".onnx":
        import onnx

        return sorted({f"{n.domain + '.' if n.domain else ''}{n.op_type}" for n in onnx.load(str(path)).graph.node})
    from lstm_edge.converters.to_tflite import tflite_ops

    return sorted(set(tflite_ops(path)))
