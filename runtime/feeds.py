"""Random inputs for parity checks: one generator for verify's grid, every converter's self-check,
the BYO exporter, the crash probe, the gate probes and the bench.

    x   N(0, 1); or, for token models, ids drawn uniformly over the whole vocabulary
    h0  U(−1, 1): a real hidden state is o·tanh(c), so it never leaves (−1, 1)
    c0  N(0, 1): the cell state is unbounded
    zero_state=True: h0 = c0 = 0 (what a fresh stream starts from)

Draw order is fixed (x, then each state in order), so a seed gives the same inputs everywhere.
"""
from __future__ import annotations

import numpy as np


def random_inputs(rng: np.random.Generator, x_shape: tuple[int, ...], states: dict[str, tuple[int, ...]], *,
                  vocab: int | None = None, ids_dtype=np.float32, zero_state: bool = False,
                  h_range: float = 1.0) -> dict[str, np.ndarray]:
    """{"x": x_shape, **states}; state names starting with "h" are hidden states, others cell states.
    Token ids come as `ids_dtype` (float32 in lstm-edge's own contract, int64 for a user's
    Embedding module)."""
    if vocab:
        x = rng.integers(0, vocab, x_shape).astype(ids_dtype)
    else:
        x = rng.standard_normal(x_shape).astype(np.float32)
    feeds = {"x": x}
    for name, shape in states.items():
        if zero_state:
            feeds[name] = np.zeros(shape, np.float32)
        elif name.startswith("h"):
            feeds[name] = rng.uniform(-h_range, h_range, shape).astype(np.float32)
        else:
            feeds[name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


def contract_inputs(rng: np.random.Generator, dims: dict, batch: int, length: int, *,
                    zero_state: bool = False) -> dict[str, np.ndarray]:
    """Inputs of lstm-edge's own contract: x (B, T, F), h0 and c0 (L, B, H); `dims` as stored in
    model.json (input_size, hidden_size, num_layers, and vocab_size for token models)."""
    L, H, vocab = dims["num_layers"], dims["hidden_size"], dims.get("vocab_size") or None
    F = 1 if vocab else dims["input_size"]
    return random_inputs(rng, (batch, length, F), {"h0": (L, batch, H), "c0": (L, batch, H)},
                         vocab=vocab, zero_state=zero_state)
