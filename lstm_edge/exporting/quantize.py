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
from lstm_edge.train.checkpoint import load_calibration, load_checkpoint, load_val_set
from lstm_edge.converters.recipes import recipe as get_recipe
from lstm_edge.errors import InvalidInputError, QuantizationRefused
from lstm_edge.model.spec import spec_from_dict


def calibration_feeds(tensors: dict, dims: dict, windows: np.ndarray) -> list[dict]:
    """One feed per calibration window. Half start from zero state (as the test windows do), half
    from the state PyTorch reaches at the end of the previous window, so the quantizers also
    see realistic, non-zero h0/c0 ranges (streaming use)."""
    from lstm_edge.model.network import TorchRunner, load_model

    L, H = dims["num_layers"], dims["hidden_size"]
    zero = np.zeros((L, 1, H), np.float32)
    feeds = [{"x": w[None], "h0": zero, "c0": zero} for w in windows]
    carried = TorchRunner(load_model(tensors, dims)).run({"x": windows, "h0": np.zeros((L, len(windows), H), np.float32),
                                                          "c0": np.zeros((L, len(windows), H), np.float32)})
    for k in range(1, len(windows), 2):
        feeds[k] = {"x": windows[k][None], "h0": np.ascontiguousarray(carried["hn"][:, k - 1:k]),
                    "c0": np.ascontiguousarray(carried["cn"][:, k - 1:k])}
    return feeds


def quantize(directory: Path, recipe_name: str, *, progress=None) -> dict:
    from lstm_edge.runtime.probe import probe
    from lstm_edge.runtime.runner import open_sequence_runner as open_runner

    say = progress or (lambda msg: None)
    r = get_recipe(recipe_name)
    directory = Path(directory)
    tensors, meta = load_checkpoint(directory)
    dims = meta["dims"]
    parent_path = directory / f"{r.parent}{r.suffix}"
    if not parent_path.exists():
        raise InvalidInputError(f"{recipe_name} quantizes {parent_path.name}, which is not in {directory}",
                                hint=f"run lstm-edge export {directory} --format {r.format} first")
    parent_info = read_sidecar(parent_path)
    spec = spec_from_dict(meta["spec"], where=f"{directory / 'model.json'}: spec")
    budget = spec.budget(r.parent, r.name)
    feeds = calibration_feeds(tensors, dims, load_calibration(directory, meta))
    from lstm_edge.runtime.budget import format_increase, metric_verdict, worsening
    from lstm_edge.tasks import task_for

    task, val = task_for(spec, meta), load_val_set(directory, meta)
    L, H = dims["num_layers"], dims["hidden_size"]
    val_feeds = {"x": val["x"], "h0": np.zeros((L, len(val["x"]), H), np.float32),
                 "c0": np.zeros((L, len(val["x"]), H), np.float32)}

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
                facts = _build(r, options, parent_path, candidate, tensors, dims, feeds)
            except Exception as e:  # converters/quantizers raise many types; the attempt is recorded
                attempts.append(record | {"result": f"build failed: {str(e).strip().splitlines()[-1][:300]}"})
                continue
            broken = graph_failures(candidate, 0 if r.parent.startswith("tflite-step") else dims["num_layers"])
            if broken:
                attempts.append(record | {"result": "graph check failed: " + "; ".join(broken)})
                continue
            probed = probe(candidate)
            record |= {"probe": {str(b): v for b, v in probed.items()}, "size_bytes": candidate.stat().st_size}
            if probed[1] != "ok":
                attempts.append(record | {"result": f"does not run at batch 1: {probed[1]}"})
                continue
            facts["batch_resizable"] = all(v == "ok" for v in probed.values())
            facts["isolate"] = any(v.startswith("crashed") for v in probed.values())
            # the runner reads both from the sidecar; candidates are only ever run in a child
            write_json_atomic(sidecar_path(candidate), {"batch_resizable": facts["batch_resizable"], "isolate": True})
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
            verdict = ("no attempt runs" if best is None else
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
            "inputs": parent_info["inputs"], "outputs": parent_info["outputs"],
            "missing_outputs": parent_info.get("missing_outputs", {}),
            "layout": parent_info["layout"], "parent_size_bytes": parent_info["size_bytes"],
            "metric": task.metric, "val_metric": value, "parent_val_metric": parent_value, "val_metric_increase": increase}
    info |= facts
    info["ops"] = _ops(out_path)
    return write_sidecar(out_path, info)


def _build(r, options, parent_path, candidate, tensors, dims, feeds) -> dict:
    if r.format == "onnx":
        from lstm_edge.converters.quantize_onnx import build_onnx

        return build_onnx(r.name, options, parent_path, candidate, feeds)
    from lstm_edge.converters.quantize_tflite import build_tflite

    return build_tflite(r.name, options, tensors, dims, candidate, feeds)


def graph_failures(path: Path, layers: int) -> list[str]:
    """A quantized graph must keep one fused LSTM per layer (none for a step graph), no loops,
    builtin ops only (TFLite)."""
    if path.suffix == ".onnx":
        import onnx

        ops = [n.op_type for n in onnx.load(str(path)).graph.node]
        fused = sum(o in ("LSTM", "DynamicQuantizeLSTM") for o in ops)
        loops = sorted({o for o in ops if o in ("Loop", "Scan")})
    else:
        from lstm_edge.converters.to_tflite import FUSED_OP, tflite_ops, variable_tensors

        ops = tflite_ops(path)
        fused = ops.count(FUSED_OP)
        loops = sorted({o for o in ops if o == "WHILE" or o.startswith("Flex") or o == "CUSTOM"})
        loops += [f"variable tensor {n}" for n in variable_tensors(path)]
    problems = [f"{fused} fused LSTM op(s), expected {layers}"] if fused != layers else []
    return problems + ([f"loop or non-builtin ops {loops}"] if loops else [])


def _ops(path: Path) -> list[str]:
    if path.suffix == ".onnx":
        import onnx

        return sorted({f"{n.domain + '.' if n.domain else ''}{n.op_type}" for n in onnx.load(str(path)).graph.node})
    from lstm_edge.converters.to_tflite import tflite_ops

    return sorted(set(tflite_ops(path)))
