"""Gate-order probes: a gate permutation in any converter shows up named, not as a vague miss.

Probe weights give every gate its own signature — a distinct bias (input +0.5, forget +1.5,
cell −0.5, output −1.0 in the LSTM; reset +1, update −1, new 0 in the GRU) on top of random
blocks — and the probe input carries a nonzero h0 and c0 so the forget gate matters. The
artefact's outputs are compared with PyTorch run on every permutation of the gate blocks
(24 for the LSTM, 6 for the GRU); the one it matches names the bug:

    identity                  → pass
    (forget, output) swapped  → "forget and output gates swapped in tflite-fp32 export"
    no permutation matches    → "matches no gate permutation (best … off)": a different bug

`min_separation` is how far apart the permutations' outputs are on the probe input, so a
match is unambiguous (checked ≫ the 1e-4 match tolerance).
"""
from __future__ import annotations

import itertools

import numpy as np

LSTM_GATES = ("input", "forget", "cell", "output")        # PyTorch's row blocks
GRU_GATES = ("reset", "update", "new")
LSTM_BIAS = (0.5, 1.5, -0.5, -1.0)
MATCH = 1e-4


def probe_tensors(dims: dict, seed: int = 0) -> dict[str, np.ndarray]:
    """SequenceLSTM tensors (lstm.*, head.*) whose gates each carry their own signature."""
    rng = np.random.default_rng(seed)
    H, F, L, O = dims["hidden_size"], dims["input_size"], dims["num_layers"], dims["output_size"]
    t = {"head.weight": rng.standard_normal((O, H)).astype(np.float32), "head.bias": rng.standard_normal(O).astype(np.float32)}
    for k in range(L):
        fin = F if k == 0 else H
        t[f"lstm.weight_ih_l{k}"] = (0.6 * rng.standard_normal((4 * H, fin))).astype(np.float32)
        t[f"lstm.weight_hh_l{k}"] = (0.6 * rng.standard_normal((4 * H, H))).astype(np.float32)
        t[f"lstm.bias_ih_l{k}"] = np.repeat(np.float32(LSTM_BIAS), H) + 0.1 * rng.standard_normal(4 * H).astype(np.float32)
        t[f"lstm.bias_hh_l{k}"] = (0.1 * rng.standard_normal(4 * H)).astype(np.float32)
    return t


def permute_gates(tensors: dict, perm: tuple[int, ...], prefix: str = "lstm.") -> dict:
    """Row block g of every recurrent weight and bias replaced by block perm[g]."""
    out = dict(tensors)
    n = len(perm)
    for k, v in tensors.items():
        if k.startswith(prefix) and ("weight_ih" in k or "weight_hh" in k or "bias_" in k):
            blocks = np.split(v, n, axis=0)
            out[k] = np.ascontiguousarray(np.concatenate([blocks[p] for p in perm], axis=0))
    return out


def describe(perm: tuple[int, ...], gates: tuple[str, ...]) -> str:
    moved = [g for g in range(len(perm)) if perm[g] != g]
    if not moved:
        return "gate order correct"
    if len(moved) == 2:
        return f"{gates[moved[0]]} and {gates[moved[1]]} gates swapped"
    # follow the cycle(s): block g holds what belongs at perm[g]
    seen, cycles = set(), []
    for g in moved:
        if g in seen:
            continue
        cycle, h = [], g
        while h not in seen:
            seen.add(h)
            cycle.append(gates[h])
            h = perm[h]
        cycles.append(" → ".join(cycle + [cycle[0]]))
    return "gates rotated: " + "; ".join(cycles)


def probe_feeds(dims: dict, seed: int = 1) -> dict[str, np.ndarray]:
    from lstm_edge.runtime.feeds import random_inputs

    L, H = dims["num_layers"], dims["hidden_size"]
    return random_inputs(np.random.default_rng(seed), (2, 6, dims["input_size"]), {"h0": (L, 2, H), "c0": (L, 2, H)},
                         h_range=0.9)


def diagnose(outputs: dict, reference, tensors: dict, feeds: dict, gates=LSTM_GATES, prefix="lstm.") -> dict:
    """Which gate permutation `outputs` (an artefact's run on `feeds`) matches.
    `reference(tensors, feeds)` → the PyTorch outputs of the model with those tensors."""
    errors = {}
    runs = {}
    for perm in itertools.permutations(range(len(gates))):
        want = reference(permute_gates(tensors, perm, prefix), feeds)
        runs[perm] = want
        shared = [k for k in want if k in outputs]
        errors[perm] = max(float(np.abs(np.asarray(outputs[k], np.float64) - want[k]).max()) for k in shared)
    best = min(errors, key=errors.get)
    identity = tuple(range(len(gates)))
    perms = list(runs)
    separation = min(max(float(np.abs(runs[a][k] - runs[b][k]).max()) for k in runs[a])
                     for a, b in itertools.combinations(perms, 2))
    matched = errors[best] <= MATCH
    return {"permutation": best if matched else None, "error": errors[best], "identity_error": errors[identity],
            "min_separation": separation, "passed": matched and best == identity,
            "finding": describe(best, gates) if matched else f"matches no gate permutation (best {errors[best]:.2e} off)"}


PROBE_DIMS = {"input_size": 3, "hidden_size": 8, "num_layers": 2, "output_size": 2, "residual": []}
CONVERTERS = ("onnx-fp32", "tflite-fp32", "tflite-step-fp32")


def torch_reference(tensors: dict, feeds: dict, dims: dict = PROBE_DIMS) -> dict:
    from lstm_edge.model.network import TorchRunner, load_model

    return {k: v.astype(np.float64) for k, v in TorchRunner(load_model(tensors, dims)).run(feeds).items()}


def build(converter: str, tensors: dict, dims: dict, out) -> str:
    """Convert `tensors` with the converter's own code path (no self-check: the probe judges). → path."""
    from pathlib import Path

    out = Path(out)
    if converter == "onnx-fp32":
        import io
        import warnings

        import torch

        from lstm_edge.converters.to_onnx import DYNAMIC_AXES, INPUTS, OPSET, OUTPUTS
        from lstm_edge.model.network import load_model

        buf = io.BytesIO()
        example = tuple(torch.from_numpy(v) for v in probe_feeds(dims).values())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(load_model(tensors, dims), example, buf, dynamo=False, opset_version=OPSET,
                              input_names=list(INPUTS), output_names=list(OUTPUTS), dynamic_axes=DYNAMIC_AXES)
        path = out / "probe.onnx"
        path.write_bytes(buf.getvalue())
    elif converter == "tflite-fp32":
        from lstm_edge.converters.to_tflite import convert_keras

        path = out / "probe.tflite"
        path.write_bytes(convert_keras(tensors, dims, str(path))[0])
    else:
        from lstm_edge.converters.to_tflite_step import convert_step

        path = out / "probe-step.tflite"
        path.write_bytes(convert_step(tensors, dims, str(path)))
    return str(path)


def probe_converters(out_dir, *, inject: dict | None = None, dims: dict = PROBE_DIMS) -> list[dict]:
    """Every converter on the probe weights. `inject` {converter: permutation} feeds that converter
    permuted weights, as a converter with a gate-order bug would write them (tests use it)."""
    from pathlib import Path

    from lstm_edge.runtime.runner import open_sequence_runner

    tensors, feeds = probe_tensors(dims), probe_feeds(dims)
    rows = []
    for converter in CONVERTERS:
        work = Path(out_dir) / converter
        work.mkdir(parents=True, exist_ok=True)
        given = permute_gates(tensors, inject[converter]) if inject and converter in inject else tensors
        path = build(converter, given, dims, work)
        outputs = open_sequence_runner(path).run(feeds)
        d = diagnose(outputs, lambda t, f: torch_reference(t, f, dims), tensors, feeds)
        d["converter"] = converter
        d["outputs"] = sorted(outputs)
        if not d["passed"]:
            d["finding"] += f" in {converter} export"
        rows.append(d)
    return rows
