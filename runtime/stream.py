"""Stream: carry (h, c) across calls over any runner whose artefact returns the cell state.

    s = Stream(open_runner("onnx-fp32.onnx"), batch=1)
    y = s.step(x)          # x (B, k, F) or (B, F) for one step → y (B, k, O) (or (B, O))
    s.reset()              # back to zero state

The runner stays a pure function; the state lives here, one Stream per independent stream
(or one batch row each). A step artefact (contract.is_step_artifact) is fed one step at a time
however long the chunk, so memory stays flat however long the input; any other artefact gets each
chunk whole (an unrolled one refuses a chunk of any length but its T).
"""
from __future__ import annotations

import numpy as np

from lstm_edge.errors import InvalidInputError
from lstm_edge.runtime.contract import XSpec, check_inputs, is_step_artifact


class Stream:
    def __init__(self, runner, *, batch: int = 1):
        if "cn" not in runner.output_names:
            raise InvalidInputError(
                f"{runner.name} does not return the cell state 'cn', so it cannot carry a stream",
                hint="use a streaming artefact: onnx-fp32.onnx, or tflite-step-fp32.tflite for TFLite")
        spec = getattr(runner, "x_spec", XSpec())
        if spec[:2] != XSpec()[:2]:                    # a user's module's own x (contract.XSpec)
            raise InvalidInputError(f"{runner.name} takes {spec.describe()}; a Stream feeds x (B, k, F) float32 chunks",
                                    hint="run whole sequences with open_runner(…).run, passing hn/cn back as h0/c0")
        self.L, _, self.H = runner.expected["h0"]
        # Only a step artefact is fed piece by piece; an artefact unrolled at a fixed T gets each
        # chunk whole and refuses one of another length (chunking a last-step head would stack answers).
        self.chunk = runner.expected["x"][1] if is_step_artifact(runner) else None
        self.runner, self.batch = runner, batch
        self.reset()

    def reset(self) -> None:
        self.h = np.zeros((self.L, self.batch, self.H), np.float32)
        self.c = np.zeros_like(self.h)
        self.steps = 0

    @property
    def state(self) -> tuple[np.ndarray, np.ndarray]:
        return self.h.copy(), self.c.copy()

    def step(self, x: np.ndarray) -> np.ndarray:
        one = x.ndim == 2                                      # (B, F): a single step
        x = x[:, None] if one else x                           # (B, k, F)
        width = self.chunk or x.shape[1]
        ys = []
        for t in range(0, x.shape[1], width):
            out = self.runner.run({"x": np.ascontiguousarray(x[:, t:t + width]), "h0": self.h, "c0": self.c})
            self.h, self.c = out["hn"], out["cn"]
            ys.append(out["y"])
        self.steps += x.shape[1]
        y = ys[0] if len(ys) == 1 else np.concatenate(ys, axis=1)
        return y[:, 0] if one else y


class SequenceRunner:
    """A whole-sequence Runner made of a streaming artefact: runs x (B, T, F) chunk by chunk from
    (h0, c0) through a Stream. Lets a step artefact be checked on the same cases as the rest."""

    def __init__(self, runner):
        if not is_step_artifact(runner):   # open_sequence_runner wraps only step artefacts; a direct caller is told
            raise InvalidInputError(f"{runner.name} is not a step artefact (x (B, 1, F), returns cn), so it cannot be "
                                    "stepped through a sequence", hint="run it as it is: open_runner")
        self.inner = runner
        self.name = f"{runner.name} (stepped)"
        self.input_names, self.output_names = runner.input_names, runner.output_names
        self.missing, self.info, self.unrolled = runner.missing, runner.info, None
        x, h0, c0 = runner.expected["x"], runner.expected["h0"], runner.expected["c0"]
        self.expected = {"x": (x[0], None, x[2]), "h0": h0, "c0": c0}

    def run(self, feeds: dict) -> dict:
        check_inputs(feeds, self.expected, self.name)
        stream = Stream(self.inner, batch=feeds["x"].shape[0])
        stream.h, stream.c = feeds["h0"].copy(), feeds["c0"].copy()
        y = stream.step(feeds["x"])
        return {"y": y, "hn": stream.h, "cn": stream.c}

