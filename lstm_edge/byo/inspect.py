"""Which architecture a user's module is — or exit 3 naming the layer or feature that is not supported.

What is accepted is support.py's table (the graph builders read the same rows): an optional input
layer (nn.Embedding, or nn.Linear, then activation modules), ONE recurrent module (nn.LSTM:
stacked, batch_first either way, bidirectional, proj_size, dropout; or nn.GRU; bias optional),
an nn.Linear head on every step, on the last step, or on the mean over steps, then activations or
`.squeeze(-1)` — as modules or bare calls. forward(x) takes x; other arguments need defaults.

The structure is read from the order in which forward() calls the layers (hooks), the head's kind
from the tensor it is given, and bare ops after the head by matching the module's own output
against the table's ops. `rebuild` recomputes forward() from that structure alone; it must give
the module's output at the example, at a second input of another size and at B = T = 1, or the
module is refused here naming where forward() does something else — never later as a parity
failure blamed on a converter.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lstm_edge.byo import support
from lstm_edge.errors import InvalidInputError


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
    activations: list[str] = field(default_factory=list)   # support.ACTIVATIONS names after the input layer
    head: str | None = None           # path of the nn.Linear after the RNN
    head_kind: str = "none"           # "step" | "last" | "mean" | "none" (the whole sequence, no head)
    activation_args: list[dict] = field(default_factory=list)   # their arguments, aligned with `activations`
    post: list[str] = field(default_factory=list)          # support.OPS names after the head, in order
    post_args: list[dict] = field(default_factory=list)
    form: str = "single"              # lstm_edge/byo/recognise.py: "single" (this structure) or "graph"
    lengths: bool = False             # forward(x, lengths): the ONNX artefact takes lengths
    packs: bool = False               # … and packs with them: sequence_lens on the recurrent op (checked)

    @classmethod
    def from_dict(cls, d: dict) -> "Architecture":
        """From byo-report.json / model.json's "architecture" (which adds description and state_layout)."""
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    def native_ops(self) -> dict[str, int]:
        """ONNX ops the export must hold: one per layer."""
        return {self.kind: self.num_layers}

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
        parts.append(f"{self.head_kind} head" if self.head else
                     {"last": "the last step, no head", "mean": "the mean over steps, no head"}.get(self.head_kind, "no head"))
        return ", ".join(parts) + (f", then {' → '.join(self.post)}" if self.post else "")


def check_layers(model) -> tuple[str, object]:
    """→ (path, module) of the one recurrent layer; exit 3 on any layer or option the table lacks."""
    recurrent = []
    for path, m in model.named_modules():
        name = type(m).__name__
        if list(m.children()):
            continue                                  # containers: their leaves are checked
        if name in support.REFUSED:
            raise InvalidInputError(f"layer '{path}' ({name}) is not supported: {support.REFUSED[name]}")
        if name not in support.LAYERS:
            raise InvalidInputError(f"layer '{path}' ({name}) is not supported: {support.LAYER_HINT}",
                                    hint="export the recurrent part as its own module")
        for attr, unsupported, why in support.OPTIONS.get(name, []):
            if unsupported(getattr(m, attr, None)):
                raise InvalidInputError(f"layer '{path}' ({name}) with {attr}={getattr(m, attr)!r} is not supported: {why}")
        if name in support.RECURRENT:
            recurrent.append((path, m))
    if len(recurrent) != 1:
        names = ", ".join(f"'{p}' ({type(m).__name__})" for p, m in recurrent) or "none"
        raise InvalidInputError(f"the module has {len(recurrent)} recurrent layers ({names}); exactly one nn.LSTM "
                                "or nn.GRU (stacked inside it as num_layers) is supported")
    return recurrent[0]


def run(model, x, what: str):
    """The module's own forward on x (y only, as the exported y); its errors are its own: exit 3."""
    import torch

    lengths = support.lengths_parameter(model) if isinstance(model, torch.nn.Module) else None
    try:
        with torch.no_grad():
            y = model(x, support.full_lengths(model, x)) if lengths else model(x)
    except Exception as e:    # the user's code: any error is theirs to see, with the input that caused it
        raise InvalidInputError(f"forward() fails on {what}, x of shape {tuple(x.shape)} ({x.dtype}): "
                                f"{type(e).__name__}: {str(e).strip()[:300]}",
                                hint="check --example-shape against what forward() expects ((B, T, F), or (T, B, F) "
                                     "with batch_first=False; (B, T) token ids for an Embedding)")
    y = y[0] if isinstance(y, (tuple, list)) and y else y
    if not isinstance(y, torch.Tensor):
        raise InvalidInputError(f"forward() returns {type(y).__name__}, not a tensor (or a tuple starting with one)")
    return y


def inspect(model, example) -> Architecture:
    """Run forward once on `example` with hooks; read the call order and the head's input; then
    prove the structure recomputes forward()."""
    import torch
    from torch.nn.utils.rnn import PackedSequence

    path, rnn = check_layers(model)
    support.check_signature(model)
    calls = []                                       # (path, module, input, output) in call order
    handles = [m.register_forward_hook(lambda m, i, o, p=p: calls.append((p, m, i, o)))
               for p, m in model.named_modules() if not list(m.children())]
    try:
        own = run(model, example, "the example")
    finally:
        for h in handles:
            h.remove()
    arch = Architecture(path, type(rnn).__name__, rnn.num_layers, rnn.hidden_size, getattr(rnn, "proj_size", 0),
                        rnn.bidirectional, rnn.batch_first)
    at = [i for i, c in enumerate(calls) if c[0] == path]
    if len(at) != 1:
        raise InvalidInputError(f"forward() calls the recurrent layer '{path}' {len(at)} times on the example; one "
                                "call over the whole sequence is supported (a loop over steps is unrolled Python)")
    k = at[0]
    arch.lengths = support.lengths_parameter(model) is not None
    if isinstance(calls[k][2][0], PackedSequence):
        arch.packs = True
        if not arch.lengths:
            raise InvalidInputError(f"forward() packs the sequence given to '{path}' (pack_padded_sequence): not "
                                    f"supported — {support.PACKING}")
        calls[k] = (*calls[k][:2], (_padded(calls[k][2][0], rnn.batch_first),), (_padded(calls[k][3][0], rnn.batch_first),))
    before = [c for c in calls[:k] if type(c[1]).__name__ not in support.IGNORED]
    after = [c for c in calls[k + 1:] if type(c[1]).__name__ not in support.IGNORED]
    if before:
        first = type(before[0][1]).__name__
        if first not in ("Embedding", "Linear") or any(type(c[1]).__name__ not in support.ACTIVATIONS for c in before[1:]):
            raise InvalidInputError("before the recurrent layer only one Embedding or Linear (then activations) is "
                                    f"supported; forward calls {[c[0] for c in before]}")
        arch.input_layer, arch.input_kind = before[0][0], first.lower()
        arch.activations = [type(c[1]).__name__ for c in before[1:]]
        arch.activation_args = [_args(c) for c in before[1:]]
    head = after[0] if after and type(after[0][1]).__name__ == "Linear" else None
    rest = after[1:] if head else after
    if any(type(c[1]).__name__ not in support.ACTIVATIONS for c in rest):
        raise InvalidInputError(f"after the recurrent layer only one Linear head (then activations) is supported; "
                                f"forward calls {[f'{c[0]} ({type(c[1]).__name__})' for c in after]}")
    arch.post, arch.post_args = [type(c[1]).__name__ for c in rest], [_args(c) for c in rest]
    head_kinds = None
    if head:
        arch.head = head[0]
        seq = calls[k][3][0]                          # the RNN's output sequence
        seq_bt = seq if rnn.batch_first else seq.transpose(0, 1)        # (B, T, D·H)
        given = head[2][0]
        candidates = {"step": seq, "last": seq_bt[:, -1], "mean": seq_bt.mean(dim=1)}
        head_kinds = [kind for kind, v in candidates.items()     # at T = 1 the last step is the mean: both match,
                      if v.shape == given.shape and torch.allclose(v, given, atol=1e-6)]   # _find_post decides
        if not head_kinds:
            raise InvalidInputError(f"the head '{arch.head}' is given neither every step, the last step nor the mean "
                                    "over steps of the recurrent output; those three are supported")
        arch.head_kind = head_kinds[0]
    _check_rnn_input(model, arch, example, calls[k][2][0])
    _find_post(model, arch, example, own, head_kinds)
    return arch


def _padded(packed, batch_first: bool):
    """A packed sequence as the padded tensor (every row full length here: lstm-edge recognises a module
    at full lengths)."""
    from torch.nn.utils.rnn import pad_packed_sequence

    return pad_packed_sequence(packed, batch_first=batch_first)[0]


def _args(call) -> dict:
    _, module, inputs, _ = call
    try:
        return support.module_args(type(module).__name__, module, inputs[0].dim())
    except InvalidInputError as e:
        raise InvalidInputError(f"layer '{call[0]}': {e.message}", hint=e.hint)


def rebuild(model, arch, x, *, upto: str = "y"):
    """forward() recomputed from the structure alone, through the table's ops ("rnn_input",
    "head": stop there; "y": the whole)."""
    import torch

    with torch.no_grad():
        z = model.get_submodule(arch.input_layer)(x) if arch.input_layer else x
        for name, args in zip(arch.activations, arch.activation_args):
            z = support.torch_apply(name, args, z)
        if upto == "rnn_input":
            return z
        seq = model.get_submodule(arch.rnn_path)(z)[0]
        seq_bt = seq if arch.batch_first else seq.transpose(0, 1)
        y = {"last": lambda: seq_bt[:, -1], "mean": lambda: seq_bt.mean(dim=1)}.get(arch.head_kind, lambda: seq)()
        y = model.get_submodule(arch.head)(y) if arch.head else y
        if upto == "head":
            return y
        for name, args in zip(arch.post, arch.post_args):
            y = support.torch_apply(name, args, y)
        return y


def _same(a, b) -> bool:
    import torch

    return a.shape == b.shape and a.is_floating_point() == b.is_floating_point() and \
        torch.allclose(a.double(), b.double(), atol=1e-6, rtol=1e-5)


def _gap(a, b) -> str:
    if a.shape != b.shape:
        return f"shape {tuple(a.shape)} where the structure gives {tuple(b.shape)}"
    return f"max |Δ| {float((a.double() - b.double()).abs().max()):.3g} from the structure"


def _check_rnn_input(model, arch, x, given) -> None:
    want = rebuild(model, arch, x, upto="rnn_input")
    if not _same(given, want):
        source = (f"the output of '{arch.input_layer}' ({arch.input_kind})" + "".join(f" then {a}" for a in arch.activations)
                  if arch.input_layer else "x itself")
        raise InvalidInputError(f"the recurrent layer '{arch.rnn_path}' is not given {source}: forward() applies an op "
                                f"before it that lstm-edge does not model ({_gap(given, want)})",
                                hint="move that op out of forward(), or make it a supported layer (support.py)")


def _find_post(model, arch, x, own, head_kinds=None) -> None:
    """Bare ops after the head: the first chain of table ops (support.post_candidates) that turns the
    structure's output into forward()'s at the example and at a second input of another size; then
    B = T = 1, where an op that depends on sizes (squeeze() without a dim) shows. `head_kinds`: the
    head's kinds that match at the example (last and mean both, at T = 1): the second input, two
    steps longer, tells them apart."""
    import torch

    bx = 0 if arch.batch_first else 1
    shape = list(x.shape)
    shape[bx], shape[1 - bx] = shape[bx] + 1, shape[1 - bx] + 2
    g = torch.Generator().manual_seed(0)
    x2 = (torch.randint(0, model.get_submodule(arch.input_layer).num_embeddings, shape, generator=g, dtype=x.dtype)
          if arch.input_kind == "embedding" else 2 * torch.randn(shape, generator=g, dtype=x.dtype))
    pairs = [(x, own), (x2, run(model, x2, "a second random input of another size"))]
    fixed = list(zip(arch.post, arch.post_args))
    kinds = head_kinds or ([arch.head_kind] if arch.head else ["none", "last", "mean"])
    nearest = None
    for kind in kinds:
        arch.head_kind = kind
        bases = [rebuild(model, arch, xi, upto="head") for xi, _ in pairs]
        for chain in support.post_candidates(int(bases[0].shape[-1]) if bases[0].dim() else 0):
            ops = fixed + chain
            outs = [_apply(ops, b) for b in bases]
            if all(_same(yi, o) for (_, yi), o in zip(pairs, outs)):
                arch.post, arch.post_args = [n for n, _ in ops], [a for _, a in ops]
                return _check_small(model, arch, x)
            nearest = outs[0] if nearest is None else nearest      # the structure with no bare op, for the message
    arch.head_kind = kinds[0]
    if own.dim() < nearest.dim() and own.shape == nearest.squeeze().shape:
        raise InvalidInputError(f"forward() returns y of {_gap(own, nearest)}: a squeeze() without a dim drops every "
                                "axis of size 1, the batch or time axis too when B or T is 1", hint="name the dim: .squeeze(-1)")
    after = f"the head '{arch.head}'" if arch.head else f"the recurrent layer '{arch.rnn_path}'"
    raise InvalidInputError(f"forward() returns y of {_gap(own, nearest)} ({arch.describe()}): forward() applies an op "
                            f"after {after} that lstm-edge does not model",
                            hint="supported after the head: " + ", ".join(support.ACTIVATIONS) + " (modules or bare "
                            "calls), .squeeze(-1); return the head's output and apply the rest outside the export")


def _apply(ops, y):
    for name, args in ops:
        y = support.torch_apply(name, args, y)
    return y


def _check_small(model, arch, x) -> None:
    x1 = x[:1, :1]
    own, want = run(model, x1, "B = T = 1"), rebuild(model, arch, x1)
    if not _same(own, want):
        raise InvalidInputError(f"at B = T = 1 forward() returns y of {_gap(own, want)}: an op in forward() depends on "
                                "the input's size (squeeze() without a dim also drops a batch or time axis of size 1)",
                                hint="name the dim: .squeeze(-1)")
