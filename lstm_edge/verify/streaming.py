"""The streaming section of verify: equivalence and drift over one long stream.

For every artefact that returns (h, c) — ONNX fp32 and its recipes, the TFLite step
artefact — the same long sequence (B = 1) is run three ways: one step per call through a
Stream, chunks of `chunk` steps, and the whole sequence in one call (for the step artefact:
the fused TFLite sequence artefact, which is what it replaces). Equivalence: the three agree
(fp32 budget). Drift: the stepped run against PyTorch at each horizon n — y[t < n] and the
state after n steps — within the per-horizon budget of the artefact's precision.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lstm_edge.runtime.budget import elements_within, envelope
from lstm_edge.verify.parity import merged_envelope

from lstm_edge.model.spec import Spec


@dataclass
class StreamResult:
    stage: str
    precision: str
    equivalence: dict = field(default_factory=dict)   # "chunks of 7" / "whole sequence" → max abs of y
    drift: list = field(default_factory=list)         # per horizon: {horizon, y, h, c, budget, passed}
    error_curve: np.ndarray | None = None             # |y − y_torch| per step (for the plot)
    equivalence_budget: float = 1e-5

    @property
    def failed_horizon(self) -> int | None:
        return next((d["horizon"] for d in self.drift if not d["passed"]), None)

    @property
    def equivalent(self) -> bool:
        return all(v <= self.equivalence_budget for v in self.equivalence.values())

    @property
    def passed(self) -> bool:
        return self.failed_horizon is None and (self.precision != "fp32" or self.equivalent)

    def to_dict(self) -> dict:
        return {"stage": self.stage, "precision": self.precision, "equivalence_max_abs": self.equivalence,
                "equivalence_judged": self.precision == "fp32", "equivalence_budget": self.equivalence_budget,
                "drift": self.drift,
                "failed_horizon": self.failed_horizon, "passed": self.passed}


def stream_input(spec: Spec, meta: dict, norm, features, test_x: np.ndarray) -> np.ndarray:
    """(1, length, F) normalized: a fresh stretch of the same world (generator, new seed) for the
    sensor model; for CSV-trained models the test series (the last step of each window); for
    sequence tasks (adding, gesture, text) the test windows one after another. Repeated to length."""
    from lstm_edge.data.sensor import generate_sensor_series

    n = spec.streaming.length
    if meta.get("data_source", "").startswith("sensor-generator"):
        series = generate_sensor_series(days=n // 24 + 2, seed=spec.data.seed + 1)
        idx = [series.columns.index(c) for c in features]
        return np.ascontiguousarray(norm.apply(series.values)[None, :n][:, :, idx])
    if meta.get("task", {}).get("name", "forecast") == "forecast":
        series = test_x[:, -1]                                    # (Nw, F): consecutive test steps
    else:
        series = test_x.reshape(-1, test_x.shape[-1])             # (Nw·T, F): whole sequences in turn
    return np.ascontiguousarray(np.tile(series, (n // len(series) + 1, 1))[None, :n])


def check_stream(stage: str, precision: str, runner, whole, x: np.ndarray, torch_run: dict,
                 streaming, zero: dict) -> StreamResult:
    """runner: the artefact (stepped); whole: a runner for the whole sequence in one call; `streaming`: the
    StreamingSpec (horizons, chunk, budgets); `zero`: the zero state of one stream ({"h0", "c0"} or {"h0"}).
    torch_run: {"y": (1, T, O) per step, "states": {n: (h, c) or (h,)}}."""
    from lstm_edge.runtime.stream import Stream

    st = streaming
    result = StreamResult(stage, precision, equivalence_budget=st.fp32[0])
    stream = Stream(runner)
    marks = set(st.horizons)
    ys, states = [], {}
    for t in range(x.shape[1]):                                  # one step per call: the deployment mode
        ys.append(stream.step(x[:, t]))
        if t + 1 in marks:
            states[t + 1] = stream.state
    T = x.shape[1]
    y_step = np.stack(ys, axis=1).reshape(1, T, -1)             # (1, T, O): whatever shape one step's y has
    if stream.chunk is None:                                     # chunks only make sense for a sequence artefact
        chunked = Stream(runner)
        y_chunk = np.concatenate([chunked.step(x[:, t:t + st.chunk]) for t in range(0, T, st.chunk)], axis=1)
        y_chunk = y_chunk.reshape(1, y_chunk.shape[1], -1)
        # a last-step head answers once per chunk: compare it with the stepped answer at each chunk's end
        ref = y_step[:, [min(t + st.chunk, T) - 1 for t in range(0, T, st.chunk)]] if chunked.answers_once else y_step
        result.equivalence[f"chunks of {st.chunk}"] = float(np.abs(y_chunk - ref).max())
    if whole is not None:
        y_whole = whole.run({"x": x} | {k: zero[k] for k in whole.input_names if k != "x"})["y"]
        ref = y_step if y_whole.size == y_step.size else y_step[:, -1]      # a last-step head answers once
        y_whole = y_whole.reshape(ref.shape)
        result.equivalence["whole sequence"] = float(np.abs(y_whole - ref).max())
    err = np.abs(y_step.astype(np.float64) - torch_run["y"]).reshape(1, T, -1)[0].max(axis=1)   # (T,)
    result.error_curve = err
    # an empty fp16/int8 list in the spec: drift recorded, not judged (the task budget judges those stages)
    for n, tol in zip(st.horizons, st.budget(precision) or [None] * len(st.horizons)):
        want, got = torch_run["states"][n], states[n]
        d = {"horizon": n, "budget": tol, "y": float(err[:n].max())}
        d |= {name: float(np.abs(a - b).max()) for name, a, b in zip(("h", "c"), got, want)}
        # the drift budget is atol = rtol = tol, judged by the one element rule (lstm_edge/runtime/budget.py)
        pairs = ((y_step[:, :n], torch_run["y"][:, :n]), *zip(got, want))
        d["passed"] = tol is None or all(elements_within(a, b, tol, tol) for a, b in pairs)
        d["envelope"] = merged_envelope([envelope(a, b) for a, b in pairs])   # for verify --recheck
        result.drift.append(d)
    return result


def torch_stream(model, x: np.ndarray, horizons) -> dict:
    """PyTorch on the whole sequence, plus its state after each horizon (one call per segment)."""
    from lstm_edge.model.network import TorchRunner

    runner = TorchRunner(model)
    L, H = model.lstm.num_layers, model.lstm.hidden_size
    h, c = np.zeros((L, 1, H), np.float32), np.zeros((L, 1, H), np.float32)
    ys, states, start = [], {}, 0
    for n in sorted(horizons):
        out = runner.run({"x": np.ascontiguousarray(x[:, start:n]), "h0": h, "c0": c})
        ys.append(out["y"])
        h, c, start = out["hn"], out["cn"], n
        states[n] = (h, c)
    return {"y": np.concatenate(ys, axis=1).astype(np.float64), "states": states}


def check_streams(directory, spec, meta: dict, norm, test_x, tensors, stages) -> list:
    """Equivalence and drift for every artefact that can carry a stream (it returns cn)."""
    from lstm_edge.model.network import load_model
    from lstm_edge.runtime import open_runner

    dims = meta["dims"]
    x = stream_input(spec, meta, norm, meta["features"], test_x)[:, :max(spec.streaming.horizons)]
    torch_run = torch_stream(load_model(tensors, dims), x, spec.streaming.horizons)
    results = []
    for s in stages:
        if s.artifact is None or "cn" not in s.outputs or s.info.get("isolate"):
            continue   # isolated artefacts run one child process per call: 10⁴ of them is not a check
        runner = open_runner(directory / s.artifact)
        # a step artefact's whole-sequence twin is the fused artefact of the same precision
        twin = directory / s.artifact.replace("tflite-step-", "tflite-")
        whole = runner if not s.info.get("chunk") else open_runner(twin) if twin.exists() else None
        zero = {k: np.zeros((dims["num_layers"], 1, dims["hidden_size"]), np.float32) for k in ("h0", "c0")}
        results.append(check_stream(s.name, precision_class(s.precision), runner, whole, x, torch_run,
                                    spec.streaming, zero))
    return results


def precision_class(precision: str) -> str:
    """fp32, fp16 or int8: the streaming budget a stage is held to ("int8-weights" → int8)."""
    return precision if precision == "fp32" else precision.split("-")[0]

