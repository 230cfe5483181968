"""The generator behind tests/test_byo_generative.py: a config of the pieces users combine, the
user's file it becomes (`source`), its example shape, and the oracle of what the support table
(lstm_edge/byo/support.py, README "Bring your own model") refuses (`refusals`)."""
from __future__ import annotations

from hypothesis import strategies as st

ACTS = {   # activation → (as a module, as a bare call on {})
    "ReLU": ("nn.ReLU()", "torch.relu({})"),
    "Tanh": ("nn.Tanh()", "torch.tanh({})"),
    "Sigmoid": ("nn.Sigmoid()", "torch.sigmoid({})"),
    "GELU": ("nn.GELU(approximate='tanh')", "nn.functional.gelu({}, approximate='tanh')"),
    "SiLU": ("nn.SiLU()", "nn.functional.silu({})"),
    "LeakyReLU": ("nn.LeakyReLU(0.2)", "nn.functional.leaky_relu({}, 0.2)"),
    "ELU": ("nn.ELU(0.5)", "nn.functional.elu({}, 0.5)"),
    "Softmax": ("nn.Softmax(dim=-1)", "torch.softmax({}, dim=-1)"),
}
POSTS = {   # post-op after the head → (as a module, as a bare call on {})
    "sigmoid": ("nn.Sigmoid()", "torch.sigmoid({})"),
    "softmax": ("nn.Softmax(dim=-1)", "{}.softmax(-1)"),
    "squeeze": (None, "{}.squeeze(-1)"),
}
SIGNATURES = {   # forward()'s parameters
    "x": "x",
    "state": "x, state=None",
    "lengths": "x, lengths",
    "lengths_optional": "x, lengths=None",          # masks when given; None means every step
    "lengths_packed": "x, lengths=None",            # packs, with full lengths when none are given
}


def _normalise(c: dict) -> dict:
    """Drop the keys a drawn config does not use, so a shrunk config reads as the module it is."""
    c = dict(c)
    if c["input"] != "linear":
        del c["in_bias"]
    if c["input"] == "none":
        del c["embed"]
    if c["input"] == "embedding":
        del c["features"]
    else:
        del c["vocab"]
    if c["in_act"] is None:
        del c["in_act_form"]
    if c["rnn"] != "LSTM":
        c["proj"] = 0
    if c["post"] not in ("sigmoid", "softmax"):
        del c["post_form"]
    return c


# Each sampled_from lists the plainest choice first (a failure shrinks towards the module people write most) and
# repeats the choices that export, so about half the examples export and half are refused.
configs = st.fixed_dictionaries({
    "input": st.sampled_from(["linear", "none", "embedding", "linear"]),
    "in_bias": st.sampled_from([True, False]),
    "in_act": st.sampled_from([None] * 4 + list(ACTS)),
    "in_act_form": st.sampled_from(["module"] * 4 + ["bare"]),
    "features": st.integers(1, 3),
    "vocab": st.integers(5, 9),
    "embed": st.integers(2, 4),
    "rnn": st.sampled_from(["LSTM", "GRU"]),
    "layers": st.integers(1, 2),
    "hidden": st.integers(3, 6),
    "bidirectional": st.sampled_from([False, True]),
    "proj": st.sampled_from([0, 0, 2]),             # LSTM only; drawn a third of the time
    "rnn_bias": st.sampled_from([True, False]),
    "batch_first": st.sampled_from([True, False]),
    "head": st.sampled_from(["last", "step", "mean", "hn"]),
    "head_bias": st.sampled_from([True, False]),
    "out": st.integers(1, 3),
    "post": st.sampled_from(["none", "sigmoid", "softmax", "squeeze"]),
    "post_form": st.sampled_from(["module", "bare"]),
    "signature": st.sampled_from(["x"] * 5 + [s for s in SIGNATURES if s != "x"]),
    "batch": st.integers(1, 3),
    "time": st.integers(1, 6),
}).map(_normalise)


def source(c: dict) -> str:
    """The config as a user's file defining `Net`."""
    bf, lstm = c["batch_first"], c["rnn"] == "LSTM"
    init, body = [], []
    width = c.get("features")
    if c["input"] == "linear":
        init.append(f"self.inp = nn.Linear({c['features']}, {c['embed']}, bias={c['in_bias']})")
        body.append("z = self.inp(x)")
        width = c["embed"]
    elif c["input"] == "embedding":
        init.append(f"self.inp = nn.Embedding({c['vocab']}, {c['embed']})")
        body.append("z = self.inp(x)")
        width = c["embed"]
    else:
        body.append("z = x")
    if c["in_act"]:
        module, bare = ACTS[c["in_act"]]
        if c["in_act_form"] == "module":
            init.append(f"self.act = {module}")
            body.append("z = self.act(z)")
        else:
            body.append("z = " + bare.format("z"))
    proj = f", proj_size={c['proj']}" if c["proj"] else ""
    init.append(f"self.rnn = nn.{c['rnn']}({width}, {c['hidden']}, num_layers={c['layers']}, bias={c['rnn_bias']}, "
                f"batch_first={bf}, bidirectional={c['bidirectional']}{proj})")
    sig, t_axis = c["signature"], 1 if bf else 0
    if sig == "lengths_packed":
        body += ["if lengths is None:",
                 f"    lengths = torch.full((z.shape[{1 - t_axis}],), z.shape[{t_axis}], dtype=torch.int64)",
                 f"z = pack_padded_sequence(z, lengths, batch_first={bf}, enforce_sorted=False)"]
    body.append(f"out, hn = self.rnn(z{', state' if sig == 'state' else ''})")
    if sig == "lengths_packed":
        body.append(f"out = pad_packed_sequence(out, batch_first={bf})[0]")
    if sig in ("lengths", "lengths_optional"):
        body += ["if lengths is not None:",
                 f"    steps = torch.arange(out.shape[{t_axis}]).unsqueeze({1 - t_axis})",
                 f"    keep = steps < lengths.unsqueeze({t_axis})",
                 "    out = out * keep.unsqueeze(-1)"]
    d = 2 if c["bidirectional"] else 1
    h = c["proj"] or c["hidden"]
    head_in = h if c["head"] == "hn" else h * d
    init.append(f"self.fc = nn.Linear({head_in}, {c['out']}, bias={c['head_bias']})")
    body.append({"step": "y = self.fc(out)",
                 "last": f"y = self.fc(out[{':, -1' if bf else '-1'}])",
                 "mean": f"y = self.fc(out.mean(dim={t_axis}))",
                 "hn": f"y = self.fc(hn{'[0]' if lstm else ''}[-1])"}[c["head"]])
    if c["post"] != "none":
        module, bare = POSTS[c["post"]]
        if module and c.get("post_form") == "module":
            init.append(f"self.post = {module}")
            body.append("y = self.post(y)")
        else:
            body.append("y = " + bare.format("y"))
    body.append("return y")
    args = SIGNATURES[sig]
    lines = ["import torch", "from torch import nn", "from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence",
             "", "", "class Net(nn.Module):", "    def __init__(self):", "        super().__init__()"]
    lines += [f"        {s}" for s in init]
    lines += ["", f"    def forward(self, {args}):"] + [f"        {s}" for s in body]
    return "\n".join(lines) + "\n"


def example_shape(c: dict) -> tuple[int, ...]:
    bt = (c["batch"], c["time"]) if c["batch_first"] else (c["time"], c["batch"])
    return bt if c["input"] == "embedding" else (*bt, c["features"])


# --- the oracle: what the table (support.py, README "Bring your own model") refuses --------------

REASONS = {   # a phrase the refusal must contain → its label in the outcome table
    "before the recurrent layer only one Embedding or Linear": "activation with no input layer",
    "'rnn' is not given x itself": "bare op on x before the RNN",
    "'rnn' is not given the output of 'inp'": "bare activation after the input layer",
    "the head 'fc' is given neither every step": "h_n head of a bidirectional layer",
    "ONNX's LSTM op has no projection": "ONNX: proj_size",
}


def refusals(c: dict) -> list[str]:
    """The module-level refusals the table predicts for `c` (any one of them may be named first). forward(x,
    lengths) is exported with the lengths (packing or not); what the one-layer structure refuses (inspect.py)
    the traced graph takes (lstm_edge/graph) when every layer is batch-first and forward() neither requires
    lengths (a placeholder the trace cannot fill) nor packs (pack_padded_sequence is not a mapped call)."""
    found = []
    if c["in_act"] and c["in_act_form"] == "module" and c["input"] == "none":
        found.append("before the recurrent layer only one Embedding or Linear")
    if c["in_act"] and c["in_act_form"] == "bare":
        found.append("'rnn' is not given x itself" if c["input"] == "none" else "'rnn' is not given the output of 'inp'")
    if c["head"] == "hn" and c["bidirectional"]:
        found.append("the head 'fc' is given neither every step")
    return [] if graph_form(c) else found


def graph_form(c: dict) -> bool:
    """Whether the one-layer structure refuses `c` and the traced graph takes it instead."""
    single_refuses = bool((c["in_act"] and (c["in_act_form"] == "bare" or c["input"] == "none"))
                          or (c["head"] == "hn" and c["bidirectional"]))
    return single_refuses and c["batch_first"] and c["signature"] not in ("lengths", "lengths_packed")


def format_refusals(c: dict, formats: list[str]) -> dict[str, str]:
    return {"onnx": "ONNX's LSTM op has no projection"} if c["proj"] and "onnx" in formats else {}
