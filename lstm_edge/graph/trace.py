"""A user's module of any composition around nn.LSTM / nn.GRU layers, read from a torch.fx trace.

    trace(model, example) → GraphArchitecture     or exit 3 naming the node and the reason

The trace is forward() as a graph of calls: leaf modules (torch.nn layers), functions and tensor
methods. Every node must be in table.py; every recurrent layer batch-first. The traced graph is
run against forward() itself at the example and at a second input of another size before it is
accepted, so a forward() that the trace does not capture (a branch on a size, a loop over steps)
is refused here, not found later as a parity failure.

The sequence artefacts of this form take x and return y, each call from the zero state of every
recurrent layer. A module that can stream (measured: graph/step.why_not) also gets a step artefact
with every layer's state packed in and out (graph/step.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lstm_edge.byo import support
from lstm_edge.errors import InvalidInputError
from lstm_edge.graph import table


@dataclass
class GraphArchitecture:
    recurrent: list[dict]                   # per recurrent layer: path, kind, num_layers, hidden_size, proj_size,
                                            # bidirectional, fused (→ UNIDIRECTIONAL_SEQUENCE_LSTM in TFLite)
    layers: dict[str, int]                  # what the graph holds: module class / function / method → count
    input_layer: str | None = None          # the nn.Embedding x goes into, when x is token ids
    input_kind: str | None = None           # "embedding" | None
    form: str = "graph"
    lengths: bool = False                   # forward(x, lengths) is the single form's (lstm_edge/byo/inspect.py)
    batch_first: bool = True                # x is (B, T, …); every recurrent layer is batch-first
    head_kind: str = "graph"
    head: str | None = None
    proj_size: int = 0
    bidirectional: bool = False
    activations: list = field(default_factory=list)
    activation_args: list = field(default_factory=list)
    post: list = field(default_factory=list)
    post_args: list = field(default_factory=list)
    # measured by graph/step.why_not (byo/recognise.py); None: it streams (a model.json from before: not)
    why_not_streaming: str | None = "not measured when this was exported: run lstm-edge pipeline --project again"

    @classmethod
    def from_dict(cls, d: dict) -> "GraphArchitecture":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    @property
    def rnn_path(self) -> str:
        return self.recurrent[0]["path"]

    @property
    def kind(self) -> str:
        kinds = sorted({r["kind"] for r in self.recurrent})
        return kinds[0] if len(kinds) == 1 else "+".join(kinds)

    @property
    def num_layers(self) -> int:
        return sum(r["num_layers"] for r in self.recurrent)

    @property
    def hidden_size(self) -> int:
        return max(r["hidden_size"] for r in self.recurrent)

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def fused(self) -> bool:
        return any(r["fused"] for r in self.recurrent)

    @property
    def state_layout(self) -> str:
        return "none: every call starts each recurrent layer from the zero state"

    def native_ops(self) -> dict[str, int]:
        """ONNX ops the export must hold: one per recurrent layer (a stacked module: one per layer)."""
        out: dict[str, int] = {}
        for r in self.recurrent:
            out[r["kind"]] = out.get(r["kind"], 0) + r["num_layers"]
        return out

    def describe(self) -> str:
        rnns = ", ".join(f"'{r['path']}' {r['num_layers']}-layer {'bidirectional ' if r['bidirectional'] else ''}"
                         f"{r['kind']} H={r['hidden_size']}" + (f" proj={r['proj_size']}" if r["proj_size"] else "")
                         for r in self.recurrent)
        plumbing = (*support.RECURRENT, "getitem", "size", "contiguous", "Dropout")     # not worth a word
        others = ", ".join(f"{k}×{n}" if n > 1 else k for k, n in self.layers.items() if k not in plumbing)
        return f"a traced graph: {rnns}" + (f"; around them {others}" if others else "")


def _where(node) -> str:
    trace = (node.stack_trace or "").strip().splitlines()
    line = next((t.strip() for t in reversed(trace) if t.strip().startswith("File")), "")
    return f" ({line})" if line else ""


def _symbolic(model):
    import inspect as pyinspect

    import torch.fx as fx

    params = list(pyinspect.signature(model.forward).parameters.values())[1:]
    concrete = {p.name: p.default for p in params if p.default is not p.empty}
    tracer = fx.Tracer()
    tracer.record_stack_traces = True
    try:
        graph = tracer.trace(model, concrete_args=concrete or None)
    except Exception as e:     # a branch on a tensor, a Python loop over a size: the trace is not forward()
        raise InvalidInputError(f"forward() of {type(model).__name__} cannot be traced as one graph (torch.fx): "
                                f"{type(e).__name__}: {str(e).strip().splitlines()[0][:240]}",
                                hint="forward() must not branch on tensor values or sizes; lstm-edge maps the graph "
                                     "layer by layer")
    for node in reversed(list(graph.nodes)):   # unpacked but unused: `_, (h, _) = lstm(x)` reads no c (every
        if not node.users and node.op not in ("output", "placeholder"):   # mapped op is pure)
            graph.erase_node(node)
    return graph


def run_graph(model, graph, x, call=None):
    """The traced graph evaluated in PyTorch on x (the layers are the model's own; no GraphModule, whose
    attributes — `code`, `graph` — would clash with a user's layer of that name). `call(path, module,
    args, kwargs)`: how a layer is called (graph/step.py carries the recurrent layers' state)."""
    from torch.fx.node import map_arg

    env = {}
    for node in graph.nodes:
        args, kwargs = map_arg(node.args, lambda n: env[n.name]), map_arg(node.kwargs, lambda n: env[n.name])
        if node.op == "placeholder":
            env[node.name] = x if not env else None      # x first; arguments traced at their defaults are unused
        elif node.op == "call_module":
            m = model.get_submodule(node.target)
            env[node.name] = call(node.target, m, args, kwargs) if call else m(*args, **kwargs)
        elif node.op == "call_function":
            env[node.name] = node.target(*args, **kwargs)
        elif node.op == "call_method":
            env[node.name] = getattr(args[0], node.target)(*args[1:], **kwargs)
        elif node.op == "output":
            return args[0]


def trace(model, example) -> GraphArchitecture:
    """The traced graph, every node checked against table.py, proved equal to forward()."""
    graph = _symbolic(model)
    recurrent, layers = [], {}
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    for node in graph.nodes:
        if node.op == "call_module":
            m = model.get_submodule(node.target)
            name = type(m).__name__
            _check_module(node, name, m)
            layers[name] = layers.get(name, 0) + 1
            if name in support.RECURRENT:
                recurrent.append(_recurrent(node, name, m))
        elif node.op == "call_function":
            name = table.function_name(node.target)
            if name not in table.FUNCTIONS:
                raise InvalidInputError(f"forward() calls {name}{_where(node)}: not mapped by the graph converter",
                                        hint="supported calls: " + ", ".join(sorted(table.FUNCTIONS)))
            if name.endswith("squeeze") and len(node.args) < 2 and "dim" not in node.kwargs:
                _squeeze_refusal(node)
        elif node.op == "call_method":
            if node.target not in table.METHODS:
                raise InvalidInputError(f"forward() calls .{node.target}(){_where(node)}: not mapped by the graph "
                                        "converter", hint="supported methods: " + ", ".join(sorted(table.METHODS)))
            if node.target == "squeeze" and len(node.args) < 2 and "dim" not in node.kwargs:
                _squeeze_refusal(node)
        elif node.op == "get_attr":
            raise InvalidInputError(f"forward() reads the tensor attribute '{node.target}' directly: only parameters "
                                    "of the mapped layers are converted", hint="make it a layer (nn.Linear, …)")
        elif node.op == "placeholder" and node is not placeholders[0] and node.users:   # an argument with a
            # default is traced at that default (concrete_args): its placeholder stays, unused
            raise InvalidInputError(f"forward() takes '{node.target}' after x without a default; lstm-edge calls "
                                    "forward(x)")
        if node.op in ("call_function", "call_method"):
            key = node.target if node.op == "call_method" else table.function_name(node.target).rpartition(".")[2]
            layers[key] = layers.get(key, 0) + 1
    if not recurrent:
        raise InvalidInputError("the module has no nn.LSTM or nn.GRU layer: lstm-edge exports recurrent models")
    arch = GraphArchitecture(recurrent, layers, proj_size=max(r["proj_size"] for r in recurrent),
                             bidirectional=any(r["bidirectional"] for r in recurrent))
    first = next(iter(placeholders[0].users), None)
    if first is not None and first.op == "call_module" and type(model.get_submodule(first.target)).__name__ == "Embedding":
        arch.input_layer, arch.input_kind = first.target, "embedding"
    _check_same(model, graph, example, arch)
    return arch


def _squeeze_refusal(node):
    raise InvalidInputError(f"forward() calls squeeze() without a dim{_where(node)}: it drops every axis of size 1, "
                            "the batch or time axis too when B or T is 1", hint="name the dim: .squeeze(-1)")


def _check_module(node, name: str, m) -> None:
    if name in support.REFUSED:
        raise InvalidInputError(f"layer '{node.target}' ({name}) is not supported: {support.REFUSED[name]}")
    if name not in table.MODULES:
        raise InvalidInputError(f"layer '{node.target}' ({name}){_where(node)} is not mapped by the graph converter",
                                hint="supported layers: " + ", ".join(sorted(table.MODULES)))
    for attr, unsupported, why in table.MODULE_OPTIONS.get(name, []):
        if unsupported(getattr(m, attr, None)):
            raise InvalidInputError(f"layer '{node.target}' ({name}) with {attr}={getattr(m, attr)!r} is not "
                                    f"supported: {why}")


def _recurrent(node, name: str, m) -> dict:
    if not m.batch_first:
        raise InvalidInputError(f"layer '{node.target}' ({name}) is time-major (batch_first=False) in a module of "
                                "several layers: the graph converter maps batch-first recurrent layers",
                                hint="build it with batch_first=True")
    def item(n, k=None) -> bool:              # n is `v[k]` (any k when None)
        return (n.op == "call_function" and table.function_name(n.target) == "_operator.getitem"
                and (k is None or n.args[1] == k))

    cn_used = False
    for user in node.users:                   # (y, (h, c)): does anything read c, or pass the pair on?
        if item(user, 1):
            cn_used = cn_used or any(not item(u, 0) for u in user.users)
        elif not item(user):
            cn_used = True                    # the tuple itself goes on
    proj = getattr(m, "proj_size", 0)
    fused = name == "LSTM" and not m.bidirectional and not proj and not cn_used
    return {"path": node.target, "kind": name, "num_layers": m.num_layers, "hidden_size": m.hidden_size,
            "proj_size": proj, "bidirectional": m.bidirectional, "fused": fused,
            "why": ("UNIDIRECTIONAL_SEQUENCE_LSTM" if fused else
                    "a builtin WHILE over the cell: " + ("GRU has no fused TFLite kernel" if name == "GRU" else
                                                        "proj_size" if proj else "bidirectional" if m.bidirectional else
                                                        "forward() reads the cell state, which the fused kernel "
                                                        "does not return"))}


def _check_same(model, graph, example, arch) -> None:
    import torch

    from lstm_edge.byo.inspect import run

    shape = list(example.shape)
    shape[0], shape[1] = shape[0] + 1, shape[1] + 2
    g = torch.Generator().manual_seed(0)
    x2 = (torch.randint(0, model.get_submodule(arch.input_layer).num_embeddings, shape, generator=g, dtype=example.dtype)
          if arch.input_kind == "embedding" else torch.randn(shape, generator=g, dtype=example.dtype))
    outs = []
    for x, what in ((example, "the example"), (x2, "a second input of another size")):
        own = run(model, x, what)
        outs.append(own)
        try:
            with torch.no_grad():
                got = run_graph(model, graph, x)
        except Exception as e:
            raise InvalidInputError(f"the traced graph of forward() fails on {what}: {type(e).__name__}: "
                                    f"{str(e).strip()[:240]}", hint="forward() must not depend on sizes in Python")
        got = got[0] if isinstance(got, (tuple, list)) else got
        if got.shape != own.shape or not torch.allclose(got, own, atol=1e-6, rtol=1e-5):
            raise InvalidInputError(f"the traced graph of forward() does not compute forward() on {what}: forward() "
                                    "does something a trace does not capture (a branch or loop in Python)")
    _check_rows(model, x2, outs[0], outs[1])


def _check_rows(model, x, y_small, y):
    """Each row's y must depend on that row alone: the artefacts run a batch one row per call where a fused
    kernel needs it, so an op across the batch (a softmax or mean over dim 0) would answer differently."""
    import torch

    from lstm_edge.byo.inspect import run

    axis = next((k for k, (a, b) in enumerate(zip(y_small.shape, y.shape)) if b == a + 1), None)
    if axis is None or y.dim() != y_small.dim():
        raise InvalidInputError(f"forward()'s y has no batch axis: shape {tuple(y_small.shape)} at one batch size, "
                                f"{tuple(y.shape)} at one more", hint="return y with its batch axis")
    rows = torch.cat([run(model, x[b:b + 1], "one row") for b in range(x.shape[0])], dim=axis)
    if not torch.allclose(rows, y, atol=1e-5, rtol=1e-4):
        raise InvalidInputError("forward() mixes the rows of a batch: a row's y differs when the row is given "
                                f"alone (max |Δ| {float((rows - y).abs().max()):.3g}); an op across dim 0 (softmax, "
                                "mean, sum over the batch) makes every answer depend on what else is in the batch",
                                hint="reduce over time or features, never over the batch")
