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


def runner_inputs(rng: np.random.Generator, runner, batch: int, steps: int) -> dict[str, np.ndarray]:
    """Random inputs for any Runner from its own contract (runtime/contract.py): its input names and
    declared shapes, x in its sidecar's layout ("x_layout": "BTF" default, "TBF" time-major, "BT"
    token ids) and dtype ("x_dtype", with "vocab_size" for ids). An artefact unrolled at a fixed T
    gets that T whatever `steps` asks. States are (layers·directions, B, width)."""
    info = runner.info
    layout = info.get("x_layout", "BTF")
    steps = info.get("fixed_time_steps") or steps
    x_shape = [batch if a == "B" else steps for a in layout[:2]] + [d or 1 for d in runner.expected["x"][2:]]
    states = {k: (runner.expected[k][0], batch, runner.expected[k][2]) for k in runner.input_names
              if k not in ("x", "lengths")}
    ids = np.dtype(info.get("x_dtype", "float32")).kind in "iu"
    feeds = random_inputs(rng, tuple(x_shape), states, vocab=info.get("vocab_size") if ids else None,
                          ids_dtype=np.dtype(info.get("x_dtype", "float32")).type)
    if "lengths" in runner.input_names:     # forward(x, lengths): every row full length
        feeds = {"x": feeds.pop("x"), "lengths": np.full(batch, steps, np.int64), **feeds}
    return feeds


def io_inputs(io: dict, batch: int, steps: int, seed: int, *, zero_state: bool = True) -> dict[str, np.ndarray]:
    """Inputs from a model's I/O description (lstm_edge/source: `io_contract()`), the same bytes in every
    process that asks with the same seed: x in io["x_layout"] ("BTF", "TBF", "BT" ids …) with the trailing
    feature dims io["x_tail"], io["x_dtype"] (ids over io["vocab_size"]), states io["states"] {name: [rows, width]}."""
    dims = {"B": batch, "T": steps}
    x_shape = [dims[a] for a in io["x_layout"] if a in dims] + list(io["x_tail"])
    states = {k: (rows, batch, width) for k, (rows, width) in io["states"].items()}
    dtype = np.dtype(io.get("x_dtype", "float32"))
    feeds = random_inputs(np.random.default_rng(seed), tuple(x_shape), states,
                          vocab=io.get("vocab_size"), ids_dtype=dtype.type, zero_state=zero_state)
    if io.get("lengths"):                   # forward(x, lengths): every row full length
        feeds = {"x": feeds.pop("x"), "lengths": np.full(batch, steps, np.int64), **feeds}
    return feeds
