"""What a user's module may contain — the one table the inspector and the graph builders both read.

inspect.py accepts a layer, an activation, a post-head op or a forward() signature only if it is
here, and refuses anything else naming it and the reason; tf_graph.py maps every op through
`tf_apply` and to_onnx.py checks the op torch.onnx writes for it through `onnx_op`, both from
these rows. A row added here is therefore accepted and built together, never one without the
other (tests/test_byo_refusals.py walks the table).

Torch and TensorFlow are imported where an op is applied: lstm_edge stays import-light.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from lstm_edge.errors import InvalidInputError

# every artefact of a user's module is checked against PyTorch where it is made: over B × T, within
# |Δ| ≤ ATOL + RTOL·|torch| (lstm_edge/byo/export.py, the step artefacts, the streamability measurement)
BATCHES, LENGTHS, ATOL, RTOL = (1, 2, 7), (1, 2, 50, 1000), 1e-5, 1e-5


def _F():
    import torch.nn.functional as F

    return F


@dataclass(frozen=True)
class Op:
    args: dict                 # module attribute → the functional form's default (what a bare call uses)
    torch: Callable            # (x, **args) → x: the inspector's recomputation of forward()
    tf: Callable               # (tf, x, **args) → x: the TFLite graph builder's mapping
    onnx: Callable             # (**args) → the op type torch.onnx writes for it (None: no node)
    tflite: str                # the builtin(s) it becomes (converters may fuse RELU/TANH into FULLY_CONNECTED)
    probes: tuple = ()         # further argument sets tried when the op is a bare call after the head
    last_dim: bool = False     # acts along the last dim only (its `dim` must name it)


def _elu_tf(tf, x, alpha):
    # ELU is a TFLite builtin for alpha = 1 only; another alpha is alpha·elu on the negative part
    if alpha == 1.0:
        return tf.nn.elu(x)
    return tf.nn.relu(x) + alpha * tf.nn.elu(tf.minimum(x, 0.0))


ACTIVATIONS: dict[str, Op] = {   # elementwise (or last-dim) modules, and their functional forms after the head
    "Identity": Op({}, lambda x: x, lambda tf, x: x, lambda: None, "(none)"),
    "ReLU": Op({}, lambda x: _F().relu(x), lambda tf, x: tf.nn.relu(x), lambda: "Relu", "RELU"),
    "Tanh": Op({}, lambda x: x.tanh(), lambda tf, x: tf.tanh(x), lambda: "Tanh", "TANH"),
    "Sigmoid": Op({}, lambda x: x.sigmoid(), lambda tf, x: tf.sigmoid(x), lambda: "Sigmoid", "LOGISTIC"),
    "GELU": Op({"approximate": "none"}, lambda x, approximate: _F().gelu(x, approximate=approximate),
               lambda tf, x, approximate: tf.nn.gelu(x, approximate=approximate == "tanh"),
               lambda approximate: "Erf" if approximate == "none" else "Tanh", "GELU",
               probes=({"approximate": "tanh"},)),
    "SiLU": Op({}, lambda x: _F().silu(x), lambda tf, x: x * tf.sigmoid(x), lambda: "Sigmoid", "LOGISTIC, MUL"),
    "LeakyReLU": Op({"negative_slope": 0.01}, lambda x, negative_slope: _F().leaky_relu(x, negative_slope),
                    lambda tf, x, negative_slope: tf.nn.leaky_relu(x, alpha=negative_slope),
                    lambda negative_slope: "LeakyRelu", "LEAKY_RELU"),
    "ELU": Op({"alpha": 1.0}, lambda x, alpha: _F().elu(x, alpha), _elu_tf, lambda alpha: "Elu",
              "ELU (alpha ≠ 1: RELU, MINIMUM, ELU, MUL, ADD)"),
    "Softmax": Op({"dim": -1}, lambda x, dim: _F().softmax(x, dim=dim), lambda tf, x, dim: tf.nn.softmax(x, axis=-1),
                  lambda dim: "Softmax", "SOFTMAX", last_dim=True),
}
SHAPE_OPS: dict[str, Op] = {     # after the head only: found by comparing forward() with the structure
    # x[..., 0], not tf.squeeze: the converter drops a SQUEEZE after a dynamic-batch TRANSPOSE (the
    # artefact then returns (T, B, 1) while declaring (T, B)); a STRIDED_SLICE keeps it
    "squeeze": Op({"dim": -1}, lambda x, dim: x.squeeze(dim), lambda tf, x, dim: x[..., 0],
                  lambda dim: "Squeeze", "STRIDED_SLICE", last_dim=True),
}
OPS = ACTIVATIONS | SHAPE_OPS

LAYERS = {   # leaf module class → its place in the one structure lstm-edge exports
    "Embedding": "input layer (token ids → vectors)",
    "Linear": "input layer, or the head on every step / the last step / the mean over steps (bias optional)",
    "LSTM": "the recurrent layer (stacked, batch_first either way, bidirectional, proj_size, bias optional)",
    "GRU": "the recurrent layer (stacked, batch_first either way, bidirectional, bias optional)",
    "Dropout": "ignored: the identity at inference",
} | {name: "activation after the input layer or after the head" for name in ACTIVATIONS}
RECURRENT = ("LSTM", "GRU")
IGNORED = ("Dropout",)
REFUSED = {   # named, because they look close to something supported
    "RNN": "nn.RNN (tanh/relu cell) has no ONNX LSTM/GRU op or TFLite fused kernel here; use nn.LSTM or nn.GRU",
    "LSTMCell": "an LSTMCell loop is unrolled Python, not a recurrent op: use nn.LSTM over the sequence",
    "GRUCell": "a GRUCell loop is unrolled Python, not a recurrent op: use nn.GRU over the sequence",
    "MultiheadAttention": "attention is not an LSTM/GRU layer",
}
OPTIONS = {   # class → (attribute, is it unsupported?, why): options a supported layer may not use
    "Embedding": [("max_norm", lambda v: v is not None, "max_norm rewrites the table's rows inside forward(); "
                   "save the renormalised weights and drop max_norm")],
}
LAYER_HINT = "lstm-edge exports modules built of an Embedding/Linear input layer, one nn.LSTM or nn.GRU, and a Linear head"

STATE_NAMES = ("h", "c", "h0", "c0", "h_0", "c_0", "hx", "cx", "hc", "state", "states", "hidden", "initial_state")
SIGNATURES = {   # forward()'s parameters after x → accepted or the reason it is refused
    "optional": "accepted: lstm-edge calls forward(x), so an argument with a default keeps it",
    "state": "lstm-edge makes the state explicit itself (inputs h0[, c0], outputs hn[, cn]) and feeds it to the "
             "recurrent layer; give it a default of None and pass it on: forward(x, state=None)",
    "lengths": "a mask is not exported (lengths are: forward(x, lengths) packing with pack_padded_sequence); "
               "give it a default of None that means 'all steps'",
    "other": "lstm-edge calls forward(x) with one input; give it a default",
}
PACKING = ("a packed sequence is a variable-length batch: lstm-edge exports it when forward() takes the lengths "
           "as its second argument, forward(x, lengths), and packs with them; here the lengths come from elsewhere")


def lengths_parameter(model) -> str | None:
    """The name of forward()'s lengths argument — the second parameter, named like 'lengths' (len, lens,
    seq_len …) — or None. Such a module is called with a length per row (int64, (B,)); wherever lstm-edge
    calls forward(x) alone (recognition, the single-length formats) it passes every row's full T."""
    import inspect as pyinspect

    try:
        params = list(pyinspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        return None
    if len(params) < 2 or params[1].kind not in (params[1].POSITIONAL_ONLY, params[1].POSITIONAL_OR_KEYWORD):
        return None
    low = params[1].name.lower()
    return params[1].name if "len" in low and "mask" not in low else None


def batch_axis(model) -> int:
    """x's batch axis as the module's first recurrent layer reads it: 0 (batch_first), else 1 (time-major)."""
    rnn = next((m for m in model.modules() if type(m).__name__ in RECURRENT), None)
    return 0 if getattr(rnn, "batch_first", True) else 1


def full_lengths(model, x):
    """Every row's full T as forward()'s lengths (int64, (B,)), in the layout of its recurrent layer."""
    import torch

    bx = batch_axis(model)
    return torch.full((x.shape[bx],), x.shape[1 - bx], dtype=torch.int64)


def signature_kind(name: str) -> str:
    low = name.lower()
    if low in STATE_NAMES:
        return "state"
    return "lengths" if any(w in low for w in ("len", "mask")) else "other"


def check_signature(model) -> None:
    """forward(x) and forward(x, <anything with a default>, *args, **kwargs) are accepted; a
    required argument after x is refused naming it and why (lstm-edge calls forward(x))."""
    import inspect as pyinspect

    try:
        params = list(pyinspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        return                                        # no readable signature: calling it decides
    P = pyinspect.Parameter
    if not params or params[0].kind not in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD, P.VAR_POSITIONAL):
        raise InvalidInputError(f"{type(model).__name__}.forward() takes no positional input x",
                                hint="lstm-edge calls forward(x)")
    lengths = lengths_parameter(model)
    for p in params[1:] if params[0].kind is not P.VAR_POSITIONAL else params:
        if p.name == lengths:
            continue                                  # forward(x, lengths): exported with sequence lengths
        if p.default is P.empty and p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD, P.KEYWORD_ONLY):
            kind = signature_kind(p.name)
            raise InvalidInputError(f"{type(model).__name__}.forward() requires '{p.name}' ({kind} argument): "
                                    f"not supported — {SIGNATURES[kind]}")


def module_args(name: str, module, rank: int) -> dict:
    """The arguments of activation `name` as `module` holds them; a last-dim op over another dim is refused."""
    op = ACTIVATIONS[name]
    args = {k: getattr(module, k, d) for k, d in op.args.items()}
    if op.last_dim and (args["dim"] is None or args["dim"] % rank != rank - 1):
        raise InvalidInputError(f"{name} over dim {args['dim']} of a rank-{rank} tensor: only the last dim "
                                "(features) is supported", hint=f"use nn.{name}(dim=-1)")
    return args | ({"dim": -1} if op.last_dim else {})


def torch_apply(name: str, args: dict, x):
    return OPS[name].torch(x, **args)


def tf_apply(tf, name: str, args: dict, x):
    return OPS[name].tf(tf, x, **args)


def onnx_op(name: str, args: dict) -> str | None:
    return OPS[name].onnx(**args)


def post_candidates(width: int) -> list[list[tuple[str, dict]]]:
    """Bare ops after the head, tried in order: nothing, one activation, squeeze(-1) of a width-1
    output, or an activation then squeeze. Ambiguity is settled by trying two inputs."""
    acts = [[(n, a)] for n, op in ACTIVATIONS.items() if n != "Identity" for a in (op.args, *op.probes)]
    chains = [[]] + acts
    if width == 1:
        chains += [c + [("squeeze", {"dim": -1})] for c in [[]] + acts]
    return chains


def zero_biases(arch, model, sd: dict) -> dict:
    """A bias-free layer is the same layer with zero biases: fill them in (numpy, float32) so every
    builder reads one layout."""
    import numpy as np

    if getattr(arch, "form", "single") == "graph":
        return sd                      # the graph builder reads each layer's own (optional) bias
    sd = dict(sd)
    for path in (arch.input_layer if arch.input_kind == "linear" else None, arch.head):
        if path and f"{path}.bias" not in sd:
            sd[f"{path}.bias"] = np.zeros(model.get_submodule(path).out_features, np.float32)
    rnn = model.get_submodule(arch.rnn_path)
    for name in [n for n, _ in rnn.named_parameters() if n.startswith("weight_ih")]:
        for b in ("bias_ih", "bias_hh"):
            key = f"{arch.rnn_path}.{b}{name[len('weight_ih'):]}"
            sd.setdefault(key, np.zeros(sd[f"{arch.rnn_path}.{name}"].shape[0], np.float32))
    return sd
