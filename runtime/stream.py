"""Stream: carry the state (h, c for an LSTM; h for a GRU) across calls over any runner whose
artefact returns it.

    s = Stream(open_runner("onnx-fp32.onnx"), batch=1)
    y = s.step(x)          # x (B, k, F) or (B, F) for one step → y (B, k, O) (or (B, O))
    s.reset()              # back to zero state

A user's module with a last-step head answers once per call, y (B, O): stepped, that is one answer
per step, stacked to (B, k, O).

The runner stays a pure function; the state lives here, one Stream per independent stream
(or one batch row each). A step artefact (contract.is_step_artifact) is fed one step at a time
however long the chunk, so memory stays flat however long the input; any other artefact gets each
chunk whole (an unrolled one refuses a chunk of any length but its T).
"""
from __future__ import annotations

import numpy as np

from lstm_edge.errors import InvalidInputError
from lstm_edge.runtime.contract import XSpec, check_inputs, is_step_artifact


def state_names(runner) -> tuple[str, ...]:
    """The state inputs an artefact takes, in order: ("h0", "c0") for an LSTM, ("h0",) for a GRU."""
    return tuple(n for n in runner.input_names if n not in ("x", "lengths"))


class Stream:
    def __init__(self, runner, *, batch: int = 1):
        if "lengths" in runner.input_names:
            raise InvalidInputError(f"{runner.name} takes a padded batch with each row's lengths (forward(x, lengths)): "
                                    "a stream has no lengths", hint="run whole padded batches with open_runner(…).run")
        names = state_names(runner)
        missing = [n.replace("0", "n") for n in names if n.replace("0", "n") not in runner.output_names]
        if not names or missing:
            what = "the cell state 'cn'" if missing == ["cn"] else f"its state {missing or ['h0']}"
            raise InvalidInputError(
                f"{runner.name} does not return {what}, so it cannot carry a stream",
                hint="use a streaming artefact: onnx-fp32.onnx, or tflite-step-fp32.tflite for TFLite")
        spec = getattr(runner, "x_spec", XSpec())
        if spec.batch_axis != 0:                       # a time-major module's x (contract.XSpec)
            raise InvalidInputError(f"{runner.name} takes {spec.describe()}; a Stream feeds batch-first chunks "
                                    "(B, k, …)", hint="run whole sequences with open_runner(…).run, passing the "
                                                      "returned state back")
        self.shapes = {n: (runner.expected[n][0], runner.expected[n][2]) for n in names}   # (L·D, width)
        # Only a step artefact is fed piece by piece; an artefact unrolled at a fixed T gets each
        # chunk whole and refuses one of another length (chunking a last-step head would stack answers).
        self.chunk = runner.expected["x"][1] if is_step_artifact(runner) else None
        self.runner, self.batch, self.answers_once = runner, batch, False
        self.reset()

    def reset(self) -> None:
        self.states = {n: np.zeros((rows, self.batch, width), np.float32) for n, (rows, width) in self.shapes.items()}
        self.steps = 0

    @property
    def h(self) -> np.ndarray:
        return self.states["h0"]

    @property
    def c(self) -> np.ndarray | None:
        return self.states.get("c0")                  # None: a GRU has no cell state

    @property
    def state(self) -> tuple:
        return tuple(v.copy() for v in self.states.values())

    def step(self, x: np.ndarray) -> np.ndarray:
        one = x.ndim == len(self.runner.expected["x"]) - 1    # (B, F) or (B,) of ids: a single step
        x = x[:, None] if one else x                           # (B, k, …)
        width = self.chunk or x.shape[1]
        ys = []
        for t in range(0, x.shape[1], width):
            out = self.runner.run({"x": np.ascontiguousarray(x[:, t:t + width])} | self.states)
            self.states = {n: out[n.replace("0", "n")] for n in self.states}
            ys.append(out["y"])
        self.steps += x.shape[1]
        self.answers_once = ys[0].ndim < 3     # a last-step head answers once per call: (B, O) per chunk
        if self.answers_once:
            y = np.stack(ys, axis=1)
            return y[:, 0] if one else y
        y = ys[0] if len(ys) == 1 else np.concatenate(ys, axis=1)
        return y[:, 0] if one else y


class SequenceRunner:
    """A whole-sequence Runner made of a streaming artefact: runs x (B, T, …) chunk by chunk from its
    initial state through a Stream. Lets a step artefact be checked on the same cases as the rest.

    A step artefact whose model takes whole sequences as x alone (sidecar "sequence_inputs": ["x"]: a
    traced graph of several layers, every layer starting from zero, lstm_edge/graph/step.py) takes and
    answers a sequence as its parent does: x in, y out, each sequence from the zero state."""

    def __init__(self, runner):
        if not is_step_artifact(runner):   # open_sequence_runner wraps only step artefacts; a direct caller is told
            raise InvalidInputError(f"{runner.name} is not a step artefact (x (B, 1, …), returns its state), so it "
                                    "cannot be stepped through a sequence", hint="run it as it is: open_runner")
        self.inner = runner
        self.name = f"{runner.name} (stepped)"
        self.input_names, self.output_names = runner.input_names, runner.output_names
        self.missing, self.info, self.unrolled = runner.missing, runner.info, None
        self.x_spec = getattr(runner, "x_spec", XSpec())
        x = runner.expected["x"]
        self.zero_start = runner.info.get("sequence_inputs") == ["x"]
        states = () if self.zero_start else state_names(runner)
        self.expected = {"x": (x[0], None, *x[2:])} | {n: runner.expected[n] for n in states}
        if self.zero_start:
            self.input_names, self.output_names = ("x",), ("y",)

    def run(self, feeds: dict) -> dict:
        check_inputs(feeds, self.expected, self.name, spec=self.x_spec)
        stream = Stream(self.inner, batch=feeds["x"].shape[0])
        if not self.zero_start:
            stream.states = {n: feeds[n].copy() for n in stream.states}
        y = stream.step(feeds["x"])
        if stream.answers_once:          # a last-step head: the sequence's answer is its last step's
            y = y[:, -1]
        return {"y": y} | ({} if self.zero_start else {n.replace("0", "n"): v for n, v in stream.states.items()})
