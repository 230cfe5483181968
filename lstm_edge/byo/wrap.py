"""Explicit state I/O for a user's module, whatever its forward() does around the RNN.

The recurrent layer is replaced (in a deep copy) by a proxy that runs it from the state the
wrapper was given and keeps the state it returns, so the module's own forward runs
unchanged:

    Stateful(model, arch)(x, h0[, c0]) → y, hn[, cn]     state (L·D, B, H), PyTorch's layout

x keeps the module's own layout ((B, T, …) or, with batch_first=False, (T, B, …)).
"""
from __future__ import annotations

import copy

from torch import nn


class StateProxy(nn.Module):
    def __init__(self, rnn: nn.Module):
        super().__init__()
        self.rnn = rnn
        self.state_in = None
        self.state_out = None

    def forward(self, x, state=None):        # the module's own state argument is replaced by ours
        out, state = self.rnn(x, self.state_in)
        self.state_out = state
        return out, state


class Stateful(nn.Module):
    def __init__(self, model: nn.Module, arch):
        super().__init__()
        self.model = copy.deepcopy(model).eval()
        self.stateless = getattr(arch, "form", "single") == "graph"    # x → y from the zero state
        self.lstm = arch.kind == "LSTM"
        self.lengths = getattr(arch, "lengths", False)                  # forward(x, lengths)
        if self.stateless:
            return
        parent_path, _, name = arch.rnn_path.rpartition(".")
        parent = self.model.get_submodule(parent_path) if parent_path else self.model
        self.proxy = StateProxy(getattr(parent, name))
        setattr(parent, name, self.proxy)

    def forward(self, x, *inputs):
        """x[, lengths], h0[, c0] as names(arch) lists them."""
        lengths, states = (inputs[0], inputs[1:]) if self.lengths else (None, inputs)
        h0, c0 = (list(states) + [None, None])[:2]
        if not self.stateless:
            self.proxy.state_in = (h0, c0) if self.lstm else h0
        y = self.model(x, lengths) if self.lengths else self.model(x)
        if isinstance(y, tuple):                 # a module returning (y, state): keep y
            y = y[0]
        if self.stateless:
            return (y,)
        state = self.proxy.state_out
        return (y, state[0], state[1]) if self.lstm else (y, state)


def state_shapes(arch, batch: int) -> dict[str, tuple[int, ...]]:
    if getattr(arch, "form", "single") == "graph":
        return {}
    LD = arch.num_layers * arch.directions
    shapes = {"h0": (LD, batch, arch.proj_size or arch.hidden_size)}
    if arch.kind == "LSTM":
        shapes["c0"] = (LD, batch, arch.hidden_size)
    return shapes


def names(arch) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if getattr(arch, "form", "single") == "graph":
        return ("x",), ("y",)
    if getattr(arch, "lengths", False):
        return ("x", "lengths", "h0", "c0")[:4 if arch.kind == "LSTM" else 3], ("y", "hn", "cn")[:3 if arch.kind == "LSTM" else 2]
    return (("x", "h0", "c0"), ("y", "hn", "cn")) if arch.kind == "LSTM" else (("x", "h0"), ("y", "hn"))


def module_feeds(arch, example_shape: tuple, vocab: int | None, batch: int, steps: int, seed: int, *,
                 zero: bool = False) -> dict:
    """Random inputs in the module's own layout at (batch, steps): x like the example ((B, T, …), or
    (T, B, …) time-major; int64 ids over the whole vocabulary for an Embedding), random states
    (lstm_edge/runtime/feeds.py, the one generator)."""
    import numpy as np

    from lstm_edge.runtime.feeds import random_inputs

    bx = 0 if arch.batch_first else 1
    shape = list(example_shape)
    shape[bx], shape[1 - bx] = batch, steps
    rng = np.random.default_rng(seed)
    feeds = random_inputs(rng, tuple(shape), state_shapes(arch, batch), vocab=vocab, ids_dtype=np.int64, zero_state=zero)
    if getattr(arch, "lengths", False):     # mixed lengths in 1 … T, the first row full (PyTorch pads to the longest)
        lengths = rng.integers(1, steps + 1, batch).astype(np.int64)
        lengths[0] = steps
        feeds = {"x": feeds.pop("x"), "lengths": lengths, **feeds}
    return feeds


class TorchModuleRunner:
    """The user's module with explicit state (lstm_edge/byo/wrap.Stateful) as a Runner."""

    def __init__(self, model, arch, inputs, outputs):
        self.wrapper = Stateful(model, arch).eval()
        self.input_names, self.output_names = tuple(inputs), tuple(outputs)
        self.name, self.missing, self.info = "pytorch:user-module", {}, {}

    def run(self, feeds: dict) -> dict:
        import numpy as np
        import torch

        with torch.no_grad():
            outs = self.wrapper(*(torch.from_numpy(np.ascontiguousarray(feeds[k])) for k in self.input_names))
        return {k: v.numpy() for k, v in zip(self.output_names, outs)}
