"""A user's architecture → TFLite, builtin ops only, by one of two paths (said in the sidecar):

- fused: a unidirectional nn.LSTM without projection maps onto UNIDIRECTIONAL_SEQUENCE_LSTM
  through a tf-keras twin (converters/to_tflite.py's route: Keras 2, batch 1 resized per call,
  dynamic time, cell clip reset). The fused kernel does not return the cell state: no cn.
- general: everything else (GRU, proj_size, bidirectional) has no fused kernel, so the
  recurrence is written out as builtin ops (tf_graph.py) unrolled over the example's T:
  the artefact takes exactly that T, any batch, and returns every state. The T is static in the
  input's shape signature ([-1, T, F]), but LiteRT's signature runner resizes a static dimension
  all the same; the graph's UNPACK (tf_graph.recurrence) is what makes LiteRT refuse another T,
  and lstm-edge's runners refuse it first, by the sidecar's "fixed_time_steps".
"""
from __future__ import annotations

import functools
from pathlib import Path

from lstm_edge.files import write_bytes_atomic
from lstm_edge.errors import ConversionError


def choose_path(arch) -> tuple[str, str]:
    if getattr(arch, "form", "single") == "graph":
        fused = [r["path"] for r in arch.recurrent if r["fused"]]
        return "graph", ("layer by layer from the traced graph, any T: " + "; ".join(
            f"'{r['path']}' {r['why']}" for r in arch.recurrent) + (" (fused: converted at batch 1, run one row "
                                                                      "per call)" if fused else ""))
    if arch.kind == "LSTM" and not arch.bidirectional and not arch.proj_size:
        return "fused", "a unidirectional nn.LSTM without projection maps onto UNIDIRECTIONAL_SEQUENCE_LSTM"
    why = ("GRU has no fused TFLite kernel" if arch.kind == "GRU" else
           "proj_size has no tf-keras LSTM equivalent" if arch.proj_size else
           "a bidirectional layer needs both directions' sequences before the next layer")
    return "general", f"{why}: the recurrence is unrolled into builtin ops at a fixed T"


def build(arch, model, x_shape: tuple, x_int: bool, out: Path, *, setup=None, any_t: bool = False) -> tuple:
    """The TFLite artefact of a recognised module by its path → (route, why, converter fix-ups); the one
    entry for the export and for every quantization recipe of it (`setup`: the recipe's converter options)."""
    import numpy as np

    from lstm_edge.byo.support import zero_biases

    route, why = choose_path(arch)
    if route == "graph":
        from lstm_edge.graph.to_tflite import build as build_graph

        fixups = build_graph(model, arch, x_shape, x_int, out, setup=setup)
        return route, choose_path(arch)[1], fixups          # after the build: a layer it could not fuse is said
    sd = zero_biases(arch, model, {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()})
    if route == "fused":
        return route, why, fused(arch, sd, x_shape, x_int, out, setup=setup)
    if any_t:
        why = why.replace("unrolled into builtin ops at a fixed T", "a builtin WHILE loop over the step cell: any T")
    general(arch, sd, x_shape, x_int, out, setup=setup, any_t=any_t)
    return route, why, []


def per_row(arch) -> bool:
    """Whether the artefact was converted at batch 1 (a fused kernel) and is run one row per call."""
    route, _ = choose_path(arch)
    return route == "fused" or (route == "graph" and arch.fused)


def general(arch, sd: dict, x_shape: tuple, x_int: bool, out: Path, *, setup=None, any_t: bool = False) -> None:
    """`setup(converter, tf)`: a recipe's quantization options (converters/to_tflite.convert_builtins).
    any_t: the recurrence as a builtin WHILE loop (tf_graph.recurrence_while) that takes any T, instead of
    unrolled at the example's T (measured in one run on a GRU H = 32, B = 1, T = 30, LiteRT, one thread:
    417 µs against 83 µs unrolled, 5.0×; not profiled further)."""
    from lstm_edge.byo import tf_graph
    from lstm_edge.byo.wrap import state_shapes
    from lstm_edge.converters.to_tflite import convert_builtins
    from lstm_edge.converters.tensorflow_env import import_tensorflow

    tf, _ = import_tensorflow()
    T = x_shape[1] if arch.batch_first else x_shape[0]
    T_sig = None if any_t else T                   # unrolled: T static, it takes no other
    xs = [None, T_sig, *x_shape[2:]] if arch.batch_first else [T_sig, None, *x_shape[2:]]
    states = state_shapes(arch, 1)
    sig = [tf.TensorSpec(xs, tf.int64 if x_int else tf.float32, name="x")]
    sig += [tf.TensorSpec([s[0], None, s[2]], tf.float32, name=k) for k, s in states.items()]

    def body(x, h0, c0=None):
        if not arch.batch_first:
            x = tf.transpose(x, [1, 0] + list(range(2, len(xs))))
        seq = tf_graph.input_layer(tf, arch, sd, x)
        seq, hn, cn = (tf_graph.recurrence_while(tf, arch, sd, seq, h0, c0) if any_t
                       else tf_graph.recurrence(tf, arch, sd, seq, h0, c0, T))
        y = tf_graph.head(tf, arch, sd, seq)      # in the module's layout, post-head ops included
        return {"y": y, "hn": hn} | ({"cn": cn} if cn is not None else {})

    holder = tf.Module()
    holder.f = tf.function(body if arch.kind == "LSTM" else (lambda x, h0: body(x, h0)), input_signature=sig)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([holder.f.get_concrete_function()], holder)
    write_bytes_atomic(out, convert_builtins(tf, converter, str(out), setup=setup))


def fused(arch, sd: dict, x_shape: tuple, x_int: bool, out: Path, *, setup=None) -> list[str]:
    """→ converter fix-ups (the cell clip reset). `setup`: as for general()."""
    from lstm_edge.byo import tf_graph
    from lstm_edge.converters.to_tflite import FUSED_OP, convert_builtins, tflite_ops, unclip_cell_state
    from lstm_edge.converters.tensorflow_env import import_tensorflow

    tf, keras = import_tensorflow()
    keras.backend.clear_session()
    L, H = arch.num_layers, arch.hidden_size
    feat = tuple(x_shape[2:])
    dtype = "int64" if x_int else "float32"
    x = (keras.Input((None, *feat), batch_size=1, name="x", dtype=dtype) if arch.batch_first
         else keras.Input((1, *feat), name="x", dtype=dtype))                    # (T, 1, …): T is Keras's batch
    h0, c0 = (keras.Input((1, H), batch_size=L, name=n) for n in ("h0", "c0"))
    seq = x if arch.batch_first else keras.layers.Lambda(lambda v: tf.transpose(v, [1, 0] + list(range(2, len(v.shape)))))(x)
    seq = keras.layers.Lambda(lambda v: tf_graph.input_layer(tf, arch, sd, v))(seq)
    last, layers = [], []
    for k in range(L):
        layer = keras.layers.LSTM(H, return_sequences=True, name=f"lstm_l{k}")
        state = [keras.layers.Lambda(lambda s, k=k: tf.gather(s, k, axis=0))(s) for s in (h0, c0)]
        seq = layer(seq, initial_state=state)
        last.append(seq[:, -1])
        layers.append(layer)
    y = keras.layers.Lambda(lambda v: tf_graph.head(tf, arch, sd, v))(seq)   # in the module's layout
    y = keras.layers.Activation("linear", name="y")(y)
    hn = keras.layers.Lambda(lambda hs: tf.reshape(tf.concat(hs, axis=0), [L, -1, H]), name="hn")(last)
    model = keras.Model([x, h0, c0], [y, hn])
    p = f"{arch.rnn_path}."
    for k, layer in enumerate(layers):     # PyTorch i, f, g, o is Keras i, f, c, o: no reordering
        layer.set_weights([sd[f"{p}weight_ih_l{k}"].T, sd[f"{p}weight_hh_l{k}"].T,
                           sd[f"{p}bias_ih_l{k}"] + sd[f"{p}bias_hh_l{k}"]])
    blob, fixups = unclip_cell_state(convert_builtins(tf, tf.lite.TFLiteConverter.from_keras_model(model), str(out),
                                                                 setup=setup))
    write_bytes_atomic(out, blob)
    ops = tflite_ops(out)
    if ops.count(FUSED_OP) != L or "WHILE" in ops:
        out.unlink(missing_ok=True)
        raise ConversionError(str(out), [f"{ops.count(FUSED_OP)} {FUSED_OP} op(s) for {L} layer(s)"
                                         + (", and a WHILE loop" if "WHILE" in ops else "")])
    return fixups


def run_tflite(path: Path, feeds: dict, *, per_row: bool, x_axis: int, y_axis: int) -> dict:
    """The artefact's signature on `feeds`; a fused (batch-1) artefact runs one row at a time.
    x_axis / y_axis: where the batch is in x and y (states: axis 1)."""
    runner = _signature_runner(str(path), Path(path).stat().st_mtime_ns)

    def call(f):
        return runner(**f)

    if not per_row:
        return call(feeds)
    from lstm_edge.runtime.contract import XSpec, run_by_row     # the one row-by-row rule, as the runners use it

    layout = "BTF" if x_axis == 0 else "TBF"
    return run_by_row(call, feeds, tuple(runner.get_output_details()), XSpec(layout=layout, y_batch_axis=y_axis))


@functools.lru_cache(maxsize=8)
def _signature_runner(path: str, mtime_ns: int):
    """One interpreter per artefact (and version of it): LiteRT resizes inputs per call."""
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=path).get_signature_runner()
