"""The streaming step of a traced graph (trace.py): one time step per call, every recurrent layer's
state in and out, packed into one h and one c.

    tflite-step-fp32.tflite    x (B, 1, …), h0 (1, B, ΣL·P)[, c0 (1, B, ΣL·H)] → y, hn[, cn]

Packing (state_blocks): the recurrent layers in the order forward() calls them; layer r's state
(L_r, B, w_r) is laid out per batch row as L_r·w_r values (state[:, b, :] flattened), and the rows'
blocks are concatenated along the last axis. h0 holds every layer's h (w = proj_size or hidden_size),
c0 the LSTM layers' c (w = hidden_size); a graph of GRUs only has no c0. The leading 1 keeps the
(rows, B, width) state shape every Stream and runner carries.

Whether a module can stream is measured, not guessed (why_not): forward() is stepped one step at a
time in PyTorch with each layer's state carried, and after every step t the answer must equal forward()
on the first t steps. Mean or attention pooling over time, a Conv1d window wider than a step, an
encoder's code repeated into a decoder — anything that reads across time beyond the recurrent state —
differs, and the module is refused streaming with the measured difference. A bidirectional layer
and a layer started from a state forward() computes are refused by name before that.

Whole sequences of this form start every layer from zero (the sequence artefacts take x only), so
the step artefact's sidecar says "sequence_inputs": ["x"]: run over a whole sequence
(runtime/stream.SequenceRunner) it starts from the zero state and answers y, like its parent.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lstm_edge.errors import ConversionError
from lstm_edge.files import write_bytes_atomic


def state_blocks(arch) -> list[dict]:
    """Per recurrent layer, in call order: path, kind, rows L, h width, c width (0 for a GRU)."""
    return [{"path": r["path"], "kind": r["kind"], "L": r["num_layers"], "h": r["proj_size"] or r["hidden_size"],
             "c": r["hidden_size"] if r["kind"] == "LSTM" else 0} for r in arch.recurrent]


def state_shapes(arch, batch: int) -> dict[str, tuple[int, int, int]]:
    blocks = state_blocks(arch)
    shapes = {"h0": (1, batch, sum(b["L"] * b["h"] for b in blocks))}
    width_c = sum(b["L"] * b["c"] for b in blocks)
    return shapes | ({"c0": (1, batch, width_c)} if width_c else {})


def names(arch) -> tuple[tuple[str, ...], tuple[str, ...]]:
    has_c = "c0" in state_shapes(arch, 1)
    return ("x", "h0", "c0")[:3 if has_c else 2], ("y", "hn", "cn")[:3 if has_c else 2]


def describe_layout(arch) -> str:
    blocks = state_blocks(arch)
    h = ", ".join(f"'{b['path']}' {b['L']}×{b['h']}" for b in blocks)
    c = ", ".join(f"'{b['path']}' {b['L']}×{b['c']}" for b in blocks if b["c"])
    return (f"packed (1, B, width), each row's layers one after another, a layer's L rows of w each: h0 {h}"
            + (f"; c0 {c}" if c else ""))


def _unpack(ops, blocks, h0, c0) -> dict:
    """{path: (h, c) for an LSTM, h for a GRU}, each (L, B, w). `ops`: torch or TensorFlow (reshape/transpose)."""
    out, oh, oc = {}, 0, 0
    for b in blocks:
        h = ops.layer(h0[0][:, oh:oh + b["L"] * b["h"]], b["L"], b["h"])
        oh += b["L"] * b["h"]
        if b["c"]:
            out[b["path"]] = (h, ops.layer(c0[0][:, oc:oc + b["L"] * b["c"]], b["L"], b["c"]))
            oc += b["L"] * b["c"]
        else:
            out[b["path"]] = h
    return out


def _pack(ops, blocks, finals: dict) -> tuple:
    hs = [ops.row(finals[b["path"]][0] if b["c"] else finals[b["path"]], b["L"] * b["h"]) for b in blocks]
    cs = [ops.row(finals[b["path"]][1], b["L"] * b["c"]) for b in blocks if b["c"]]
    return ops.cat(hs)[None], (ops.cat(cs)[None] if cs else None)


class _Torch:
    @staticmethod
    def layer(flat, L, w):                  # (B, L·w) → (L, B, w)
        return flat.reshape(-1, L, w).transpose(0, 1).contiguous()

    @staticmethod
    def row(s, width):                      # (L, B, w) → (B, L·w)
        return s.transpose(0, 1).reshape(-1, width)

    @staticmethod
    def cat(parts):
        import torch

        return torch.cat(parts, dim=1)


class _TF:
    def __init__(self, tf):
        self.tf = tf

    def layer(self, flat, L, w):
        return self.tf.transpose(self.tf.reshape(flat, [-1, L, w]), [1, 0, 2])

    def row(self, s, width):
        return self.tf.reshape(self.tf.transpose(s, [1, 0, 2]), [-1, width])

    def cat(self, parts):
        return self.tf.concat(parts, axis=1)


class TorchStep:
    """forward() one call at a time with every recurrent layer's state carried in and out, as a Runner:
    run({"x": (B, k, …), "h0", "c0"}) → {"y", "hn", "cn"} (numpy; k steps per call, 1 for a stream)."""

    def __init__(self, model, arch):
        from lstm_edge.graph.trace import _symbolic

        self.model, self.blocks, self.graph = model, state_blocks(arch), _symbolic(model)
        self.input_names, self.output_names = names(arch)
        self.name, self.missing, self.info = "pytorch:user-module (stepped)", {}, {}

    def forward(self, x, h0, c0=None):
        """torch tensors → y, hn, cn (cn None without an LSTM layer)."""
        from lstm_edge.graph.trace import run_graph

        states, finals = _unpack(_Torch, self.blocks, h0, c0), {}

        def call(path, m, args, kwargs):
            if path not in states:
                return m(*args, **kwargs)
            y, state = m(args[0], states[path])
            finals[path] = state
            return y, state

        y = run_graph(self.model, self.graph, x, call)
        y = y[0] if isinstance(y, (tuple, list)) else y
        return (y, *_pack(_Torch, self.blocks, finals))

    def run(self, feeds: dict) -> dict:
        import torch

        with torch.no_grad():
            outs = self.forward(*(torch.from_numpy(np.ascontiguousarray(feeds[k])) for k in self.input_names))
        return {k: v.numpy() for k, v in zip(self.output_names, outs)}


def why_not(model, arch, example) -> str | None:
    """Why this module cannot stream, measured (None: it can)."""
    import torch

    from lstm_edge.graph.trace import _symbolic

    from lstm_edge.byo.support import ATOL, RTOL      # every BYO artefact's check against PyTorch
    from lstm_edge.byo.inspect import run

    if arch.bidirectional:
        return "a bidirectional layer's backward direction needs the whole sequence before its first output"
    paths = {r["path"] for r in arch.recurrent}
    for node in _symbolic(model).nodes:
        if node.op == "call_module" and node.target in paths and (len(node.args) > 1 or node.kwargs):
            return (f"layer '{node.target}' is started from a state forward() computes (an encoder's, say): a stream "
                    "carries each layer's own state from one step to the next")
    shape = [2, 6, *example.shape[2:]]
    g = torch.Generator().manual_seed(7)
    x = (torch.randint(0, model.get_submodule(arch.input_layer).num_embeddings, shape, generator=g, dtype=example.dtype)
         if arch.input_kind == "embedding" else torch.randn(shape, generator=g, dtype=example.dtype))
    step = TorchStep(model, arch)
    state = {k: torch.zeros(s) for k, s in state_shapes(arch, 2).items()}
    for t in range(shape[1]):
        try:
            with torch.no_grad():
                got, *carried = step.forward(x[:, t:t + 1], *state.values())
        except Exception as e:      # forward() cannot take one step (a Conv1d wider than T = 1 …)
            return f"forward() fails on one step at a time: {type(e).__name__}: {str(e).strip()[:200]}"
        state = dict(zip(state, carried))
        full = run(model, x[:, :t + 1], f"the first {t + 1} steps")
        if full.shape == got.shape:
            ref = full                                  # one answer per sequence (a last-step head)
        elif full.dim() == got.dim() > 2 and full.shape[1] == t + 1 and got.shape[1] == 1 and \
                full.shape[2:] == got.shape[2:]:
            ref = full[:, -1:]                          # one answer per step
        else:
            return (f"forward() answers {tuple(full.shape)} for {t + 1} steps but {tuple(got.shape)} for one step "
                    "with the state carried: its answer does not follow time step by step")
        if not torch.allclose(got, ref, atol=ATOL, rtol=RTOL):
            return (f"stepped with every recurrent state carried, y after {t + 1} steps differs from forward() on those "
                    f"steps by {float((got - ref).abs().max()):.3g}: forward() reads across time beyond its recurrent "
                    "layers' state (pooling over the steps, a Conv1d window wider than one step, a repeated code)")
    return None


def build(model, arch, x_shape: tuple, ids: bool, out: Path, *, setup=None) -> None:
    """The step graph: graph/to_tflite's node-by-node form at T = 1, each recurrent layer one step of the
    shared cell (lstm_edge/byo/tf_graph.recurrence) from its slice of the packed state. Builtin ops, any batch,
    no loop. `setup`: a recipe's converter options."""
    from lstm_edge.converters.tensorflow_env import import_tensorflow
    from lstm_edge.converters.to_tflite import convert_builtins, tflite_ops, variable_tensors
    from lstm_edge.graph import to_tflite
    from lstm_edge.graph.trace import _symbolic

    tf, _ = import_tensorflow()
    graph, blocks, ops = _symbolic(model), state_blocks(arch), _TF(tf)
    sig = [tf.TensorSpec([None, 1, *x_shape[2:]], tf.int64 if ids else tf.float32, name="x")]
    sig += [tf.TensorSpec([1, None, s[2]], tf.float32, name=k) for k, s in state_shapes(arch, 1).items()]

    def body(x, h0, c0=None):
        finals: dict = {}
        y = to_tflite.interpret(tf, model, graph, arch, {}, x, states=_unpack(ops, blocks, h0, c0), finals=finals)
        hn, cn = _pack(ops, blocks, finals)
        return {"y": y, "hn": hn} | ({"cn": cn} if cn is not None else {})

    holder = tf.Module()
    holder.f = tf.function(body if len(sig) == 3 else (lambda x, h0: body(x, h0)), input_signature=sig)
    try:
        concrete = holder.f.get_concrete_function()
    except Exception as e:
        lines = [s.strip() for s in str(e).strip().splitlines() if s.strip()]
        raise ConversionError(str(out), [f"the step cannot be built in TensorFlow: {type(e).__name__}: "
                                         f"{(lines or [''])[-1][:300]}"])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], holder)
    write_bytes_atomic(out, convert_builtins(tf, converter, str(out), setup=setup))
    bad = sorted({o for o in tflite_ops(out) if o.startswith("Flex") or o in ("CUSTOM", "WHILE")})
    carried = variable_tensors(out)
    if bad or carried:
        out.unlink(missing_ok=True)
        raise ConversionError(str(out), [f"the step graph holds {bad or carried}: a step artefact is builtin ops "
                                         "with its state in and out, no loop"])
