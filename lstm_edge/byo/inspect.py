"""Which architecture a user's module is — or exit 3 naming the layer that is not supported.

Supported: optional input layer (nn.Embedding, or nn.Linear with optional elementwise
activation modules), ONE recurrent module (nn.LSTM: stacked, batch_first either way,
bidirectional, proj_size, dropout; or nn.GRU: stacked, bidirectional), and an nn.Linear head
on every step, on the last step, or on the mean over steps. The structure is read from the
order in which forward() calls the layers (hooks), and the head's kind from the tensor it is
given; `rebuild` then recomputes the forward from that structure, and export checks it
against the module's own output, so a functional op hidden in forward() is found, not guessed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lstm_edge.errors import InvalidInputError

ACTIVATIONS = ("ReLU", "Tanh", "Sigmoid", "GELU", "Identity", "LeakyReLU", "ELU", "SiLU")
NOT_SUPPORTED = {
    "RNN": "nn.RNN (tanh/relu cell) has no ONNX LSTM/GRU op or TFLite fused kernel here; use nn.LSTM or nn.GRU",
    "LSTMCell": "an LSTMCell loop is unrolled Python, not a recurrent op: use nn.LSTM over the sequence",
    "GRUCell": "a GRUCell loop is unrolled Python, not a recurrent op: use nn.GRU over the sequence",
    "MultiheadAttention": "attention is not an LSTM/GRU layer",
}


@dataclass
class Architecture:
    rnn_path: str                     # attribute path of the recurrent module, e.g. "encoder.lstm"
    kind: str                         # "LSTM" | "GRU"
    num_layers: int
    hidden_size: int
    proj_size: int                    # 0: none (LSTM only)
    bidirectional: bool
    batch_first: bool
    input_layer: str | None = None    # path of the nn.Embedding / nn.Linear before the RNN
    input_kind: str | None = None     # "embedding" | "linear"
    activations: list[str] = field(default_factory=list)   # class names applied after the input layer
    head: str | None = None           # path of the nn.Linear after the RNN
    head_kind: str = "none"           # "step" | "last" | "mean" | "none"

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def state_layout(self) -> str:
        h = self.proj_size or self.hidden_size
        LD = self.num_layers * self.directions
        s = f"h0, hn ({LD}, B, {h})"
        return s + (f"; c0, cn ({LD}, B, {self.hidden_size})" if self.kind == "LSTM" else "") + " = (L·D, B, H)"

    def describe(self) -> str:
        parts = [f"{self.input_kind} input" if self.input_kind else "raw input"]
        parts.append(f"{self.num_layers}-layer {'bidirectional ' if self.bidirectional else ''}{self.kind} "
                     f"H={self.hidden_size}" + (f" proj={self.proj_size}" if self.proj_size else "")
                     + f" batch_first={self.batch_first}")
        parts.append(f"{self.head_kind} head" if self.head else "no head")
        return ", ".join(parts)


def check_layers(model) -> tuple[str, object]:
    """→ (path, module) of the one recurrent layer; exit 3 on anything unsupported."""
    from torch import nn

    recurrent = []
    for path, m in model.named_modules():
        name = type(m).__name__
        if list(m.children()):
            continue                                  # containers: their leaves are checked
        if isinstance(m, (nn.LSTM, nn.GRU)):
            recurrent.append((path, m))
        elif name in NOT_SUPPORTED:
            raise InvalidInputError(f"layer '{path}' ({name}) is not supported: {NOT_SUPPORTED[name]}")
        elif not isinstance(m, (nn.Linear, nn.Embedding, nn.Dropout)) and name not in ACTIVATIONS:
            raise InvalidInputError(f"layer '{path}' ({name}) is not supported: lstm-edge exports modules built of "
                                    "Embedding/Linear input layers, one nn.LSTM or nn.GRU, and a Linear head",
                                    hint="export the recurrent part as its own module")
    if len(recurrent) != 1:
        names = ", ".join(f"'{p}' ({type(m).__name__})" for p, m in recurrent) or "none"
        raise InvalidInputError(f"the module has {len(recurrent)} recurrent layers ({names}); exactly one nn.LSTM "
                                "or nn.GRU (stacked inside it as num_layers) is supported")
    return recurrent[0]


def inspect(model, example) -> Architecture:
    """Run forward once on `example` with hooks; read the call order and the head's input."""
    import torch

    path, rnn = check_layers(model)
    calls = []                                       # (path, module, input, output) in call order
    handles = [m.register_forward_hook(lambda m, i, o, p=p: calls.append((p, m, i, o)))
               for p, m in model.named_modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model(example)
    finally:
        for h in handles:
            h.remove()
    arch = Architecture(path, type(rnn).__name__, rnn.num_layers, rnn.hidden_size, getattr(rnn, "proj_size", 0),
                        rnn.bidirectional, rnn.batch_first)
    k = next(i for i, c in enumerate(calls) if c[0] == path)
    before, after = calls[:k], calls[k + 1:]
    layers = [c for c in before if type(c[1]).__name__ not in ("Dropout",)]
    if layers:
        first = type(layers[0][1]).__name__
        if first not in ("Embedding", "Linear") or any(type(c[1]).__name__ not in ACTIVATIONS for c in layers[1:]):
            raise InvalidInputError("before the recurrent layer only one Embedding or Linear (then activations) is "
                                    f"supported; forward calls {[c[0] for c in layers]}")
        arch.input_layer, arch.input_kind = layers[0][0], first.lower()
        arch.activations = [type(c[1]).__name__ for c in layers[1:]]
    heads = [c for c in after if type(c[1]).__name__ != "Dropout"]
    if len(heads) > 1 or (heads and type(heads[0][1]).__name__ != "Linear"):
        raise InvalidInputError(f"after the recurrent layer only one Linear head is supported; forward calls "
                                f"{[f'{c[0]} ({type(c[1]).__name__})' for c in heads]}")
    if heads:
        arch.head = heads[0][0]
        seq = calls[k][3][0]                          # the RNN's output sequence
        seq_bt = seq if rnn.batch_first else seq.transpose(0, 1)        # (B, T, D·H)
        given = heads[0][2][0]
        candidates = {"step": seq, "last": seq_bt[:, -1], "mean": seq_bt.mean(dim=1)}
        arch.head_kind = next((kind for kind, v in candidates.items()
                               if v.shape == given.shape and torch.allclose(v, given, atol=1e-6)), "unknown")
        if arch.head_kind == "unknown":
            raise InvalidInputError(f"the head '{arch.head}' is given neither every step, the last step nor the mean "
                                    "over steps of the recurrent output; those three are supported")
    return arch
