"""A traced graph (trace.py) → TFLite, builtin ops only, node by node.

    x (B, T, …) → y          B = 1 per call when any layer is fused (runners resize per row), else any B; any T

Each recurrent layer becomes the fused UNIDIRECTIONAL_SEQUENCE_LSTM (a tf-keras LSTM layer per
stacked layer, called inside the tf.function: the converter recognises the Keras layer, and the
graph then converts at batch 1 only — a dynamic batch needs TensorList ops, i.e. Flex) or, for a
GRU, a projected or bidirectional LSTM, or an LSTM whose cell state forward() reads, the builtin
WHILE over the step cell (lstm_edge/byo/tf_graph.recurrence_while, the one cell builder). Every
other node is table.py's TensorFlow form. h_n of a fused layer is its output's last step (what
PyTorch returns for a unidirectional layer); the fused kernel has no c_n, so a layer whose c_n is
read is not fused (trace.py decides).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lstm_edge.errors import ConversionError
from lstm_edge.files import write_bytes_atomic
from lstm_edge.graph import table


UNFUSED = ("a builtin WHILE over the cell: the converter did not fuse this layer where it sits in the graph "
           "(measured: a decoder started from the state of a layer that is not fused)")


def build(model, arch, x_shape: tuple, ids: bool, out: Path, *, setup=None) -> list[str]:
    """Write the artefact → converter fix-ups (the cell clip reset of fused layers). When the layers meant to
    be fused do not come out as the fused op, the graph is built again with every layer as a builtin WHILE
    (any batch), and `arch.recurrent` says so (its "fused" and "why")."""
    try:
        return _build(model, arch, x_shape, ids, out, setup=setup)
    except ConversionError as first:
        if not arch.fused or "cannot be built in TensorFlow" in str(first):
            raise
        for r in arch.recurrent:
            if r["fused"]:
                r["fused"], r["why"] = False, UNFUSED
        return _build(model, arch, x_shape, ids, out, setup=setup)


def _build(model, arch, x_shape: tuple, ids: bool, out: Path, *, setup=None) -> list[str]:
    from lstm_edge.converters.tensorflow_env import import_tensorflow
    from lstm_edge.converters.to_tflite import FUSED_OP, convert_builtins, tflite_ops, unclip_cell_state, variable_tensors
    from lstm_edge.graph.trace import _symbolic

    tf, keras = import_tensorflow()
    keras.backend.clear_session()
    graph = _symbolic(model)
    fused = {r["path"]: _keras_stack(keras, model.get_submodule(r["path"]), x_shape) for r in arch.recurrent if r["fused"]}
    batch = 1 if fused else None
    sig = tf.TensorSpec([batch, None, *x_shape[2:]], tf.int64 if ids else tf.float32, name="x")

    def body(x):
        return {"y": interpret(tf, model, graph, arch, fused, x)}

    holder = tf.Module()
    holder.layers = [layer for stack in fused.values() for layer in stack]
    holder.f = tf.function(body, input_signature=[sig])
    try:
        concrete = holder.f.get_concrete_function()
    except Exception as e:     # a table op refusing its arguments (repeat adding axes), or TensorFlow refusing
        # torch semantics it lacks (list indexing x[:, [0, 2]]): the format is refused naming it, not exit 1
        lines = [s.strip() for s in str(e).strip().splitlines() if s.strip()]   # TensorFlow's reason comes last
        raise ConversionError(str(out), [f"forward() cannot be built in TensorFlow: {type(e).__name__}: "
                                         f"{(lines or [''])[-1][:300]}"])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], holder)
    blob, fixups = unclip_cell_state(convert_builtins(tf, converter, str(out), setup=setup))
    write_bytes_atomic(out, blob)
    ops = tflite_ops(out)
    want = sum(len(stack) for stack in fused.values())
    bad = sorted({o for o in ops if o.startswith("Flex") or o == "CUSTOM"})
    carried = variable_tensors(out)
    if ops.count(FUSED_OP) != want or bad or carried:
        out.unlink(missing_ok=True)
        raise ConversionError(str(out), [f"{ops.count(FUSED_OP)} {FUSED_OP} op(s) for {want} fused layer(s)"
                                         + (f", non-builtin ops {bad}" if bad else "")
                                         + (f", variable tensors {carried} (LiteRT carries them across calls)"
                                            if carried else "")])
    return fixups


def _keras_stack(keras, rnn, x_shape) -> list:
    """One tf-keras LSTM per stacked layer, with the PyTorch weights (i, f, g, o is Keras's i, f, c, o)."""
    layers = []
    width = rnn.input_size
    for k in range(rnn.num_layers):
        layer = keras.layers.LSTM(rnn.hidden_size, return_sequences=True)
        layer.build((None, None, width))
        w = {n: p.detach().numpy().astype(np.float32) for n, p in rnn.named_parameters()}
        b = w.get(f"bias_ih_l{k}", np.zeros(4 * rnn.hidden_size, np.float32)) + \
            w.get(f"bias_hh_l{k}", np.zeros(4 * rnn.hidden_size, np.float32))
        layer.set_weights([w[f"weight_ih_l{k}"].T, w[f"weight_hh_l{k}"].T, b])
        layers.append(layer)
        width = rnn.hidden_size
    return layers


def interpret(tf, model, graph, arch, fused: dict, x, *, states: dict | None = None, finals: dict | None = None):
    """The traced graph in TensorFlow on x → y. `states` {path: initial state as PyTorch takes it}: the step
    form (graph/step.py), each recurrent layer one unrolled step from it, its final state put in `finals`."""
    from torch.fx.node import map_arg

    env = {}
    by_path = {r["path"]: r for r in arch.recurrent}
    for node in graph.nodes:
        args = map_arg(node.args, lambda n: env[n.name])
        kwargs = map_arg(node.kwargs, lambda n: env[n.name])
        if node.op == "placeholder":
            env[node.name] = x if not env else None      # x first; arguments traced at their defaults are unused
        elif node.op == "call_module":
            m = model.get_submodule(node.target)
            name = type(m).__name__
            if node.target in by_path and states is not None:
                env[node.name] = _recurrent(tf, m, by_path[node.target], None, args[0], states[node.target], step=True)
                finals[node.target] = env[node.name][1]
            elif node.target in by_path:
                env[node.name] = _recurrent(tf, m, by_path[node.target], fused.get(node.target), *args)
            else:
                env[node.name] = table.module_tf(tf, name, m, args[0])
        elif node.op == "call_function":
            env[node.name] = table.FUNCTIONS[table.function_name(node.target)](tf, *args, **kwargs)
        elif node.op == "call_method":
            env[node.name] = table.METHODS[node.target](tf, *args, **kwargs)
        elif node.op == "output":
            y = args[0]
            return y[0] if isinstance(y, (tuple, list)) else y
    raise ConversionError("graph", ["the traced graph has no output"])


def _recurrent(tf, m, row: dict, stack, seq, state=None, *, step: bool = False):
    """seq (B, T, F) [, the initial state as PyTorch takes it] → (y, h_n) or (y, (h_n, c_n)); `step`: T = 1,
    the cell unrolled once (no loop)."""
    from lstm_edge.byo import tf_graph
    from lstm_edge.byo.inspect import Architecture

    lstm = row["kind"] == "LSTM"
    h0, c0 = (state if lstm else (state, None)) if state is not None else (None, None)
    # a shape op before it (expand, reshape) can leave the batch or the features unknown, and the Keras LSTM then
    # falls back to TensorList ops: a graph with a fused layer runs at batch 1 (build), so say so
    seq.set_shape([1 if stack is not None else None, None, m.input_size])
    if stack is not None:                                        # fused: one Keras LSTM per layer
        last = []
        for k, layer in enumerate(stack):
            # a zero state computed from the input: a constant one (or none) becomes a variable tensor, which
            # LiteRT carries from one invoke() to the next (the second row would start where the first ended);
            # x·0 is not folded (it is NaN for an infinite x, so no constant), and the state stays an activation
            # (one producer per state operand: the converter refuses to share one value between stateful operands)
            zeros = [tf.tile(seq[:, 0, :1] * 0.0, [1, layer.units]),
                     tf.tile(tf.reduce_max(seq[:, 0], axis=-1, keepdims=True) * 0.0, [1, layer.units])]
            init = zeros if h0 is None else [tf.gather(h0, k, axis=0), tf.gather(c0, k, axis=0)]
            for s in init:                    # static as the sequence's batch (1): an unknown one defeats fusion
                s.set_shape([1, layer.units])
            seq = layer(seq, initial_state=init)
            last.append(seq[:, -1])
        hn = tf.stack(last)
        return seq, (hn, None)                                   # c_n: trace.py proved nothing reads it
    arch = Architecture(row["path"], row["kind"], row["num_layers"], row["hidden_size"], row["proj_size"],
                        row["bidirectional"], True)
    sd = {f"{row['path']}.{n}": p.detach().numpy().astype(np.float32) for n, p in m.named_parameters()}
    if h0 is None:
        B = tf.shape(seq)[0]
        LD = row["num_layers"] * (2 if row["bidirectional"] else 1)
        h0 = tf.zeros(tf.stack([LD, B, row["proj_size"] or row["hidden_size"]]))
        c0 = tf.zeros(tf.stack([LD, B, row["hidden_size"]])) if lstm else None
    y, hn, cn = (tf_graph.recurrence(tf, arch, sd, seq, h0, c0, 1) if step
                 else tf_graph.recurrence_while(tf, arch, sd, seq, h0, c0))
    return (y, (hn, cn)) if lstm else (y, hn)
