"""The user's architecture as TensorFlow ops, from its PyTorch weights (PyTorch's gate orders).

`recurrence` writes the recurrences out as builtin ops (FULLY_CONNECTED, LOGISTIC, TANH, MUL,
ADD …) unrolled over a fixed T, split into steps by one UNPACK per layer, which makes LiteRT refuse
an input of another T: every architecture inspect.py accepts maps onto it (GRU, proj_size,
bidirectional included). `recurrence_while` is the same step cell in one builtin WHILE per layer and
direction, for an artefact that takes any T. `recurrence_chunk` is the same cell over a chunk of K
steps with the input half hoisted (project → recur), shaped for XNNPACK (converters/to_tflite_seq.py).
Gate orders: LSTM i, f, g, o; GRU r, z, n, as in torch.nn. Shapes: x in the module's layout; h0, c0 (L·D, B, H); y as the module returns it.
"""
from __future__ import annotations

import numpy as np

from lstm_edge.byo import support     # the one table of ops: what inspect.py accepts is what is mapped here


def input_layer(tf, arch, sd, x):
    """x (B, T[, F]) → (B, T, F_rnn): the embedding lookup or the linear layer, then activations."""
    if arch.input_kind == "embedding":
        table = tf.constant(sd[f"{arch.input_layer}.weight"])
        x = tf.gather(table, tf.cast(x, tf.int32))
    elif arch.input_kind == "linear":
        x = tf.matmul(x, tf.constant(sd[f"{arch.input_layer}.weight"].T)) + sd[f"{arch.input_layer}.bias"]
    for name, args in zip(arch.activations, arch.activation_args):
        x = support.tf_apply(tf, name, args, x)
    return x


def head(tf, arch, sd, seq):
    """seq (B, T, D·H) → y as the module returns it: the head on every step, the last step, or the
    mean over steps; time-major again for a time-major module's per-step y; then the ops after the
    head (support.OPS: activations, squeeze(-1)), which all act on the last dim."""
    if arch.head_kind == "last":
        seq = seq[:, -1]
    elif arch.head_kind == "mean":
        seq = tf.reduce_mean(seq, axis=1)
    y = seq if arch.head is None else tf.matmul(seq, tf.constant(sd[f"{arch.head}.weight"].T)) + sd[f"{arch.head}.bias"]
    if not arch.batch_first and arch.head_kind in ("step", "none"):
        y = tf.transpose(y, [1, 0, 2])       # before the post ops: squeeze(-1) leaves no axis 2 to move
    for name, args in zip(arch.post, arch.post_args):
        y = support.tf_apply(tf, name, args, y)
    return y


def project(tf, arch, w, x):
    """The input half of the cell, for one step or many at once: x (…, F) → (…, G), G = 4H (LSTM, with both
    biases) or 3H (GRU, b_ih). Hoisted out of the loop, it is one FULLY_CONNECTED over B·T rows."""
    return tf.matmul(x, w["ih"]) + (w["b"] if arch.kind == "LSTM" else w["b_ih"])


def recur(tf, arch, w, zx_t, h, c):
    """The recurrent half of the cell: zx_t (B, G) from project() and the state → h, c after the step.
    Gates are taken with one SPLIT (XNNPACK takes SPLIT; SPLIT_V and STRIDED_SLICE cut its partitions)."""
    if arch.kind == "LSTM":
        z = zx_t + tf.matmul(h, w["hh"])
        i, f, g, o = tf.split(z, 4, axis=1)                               # PyTorch order
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        h = tf.sigmoid(o) * tf.tanh(c)
        if "hr" in w:
            h = tf.matmul(h, w["hr"])                                     # projection: (B, H) → (B, P)
        return h, c
    gh = tf.matmul(h, w["hh"]) + w["b_hh"]
    ir, iz, in_ = tf.split(zx_t, 3, axis=1)
    hr, hz, hn = tf.split(gh, 3, axis=1)
    r, z = tf.sigmoid(ir + hr), tf.sigmoid(iz + hz)
    n = tf.tanh(in_ + r * hn)                                             # linear_before_reset: r after W_hn h
    return (1.0 - z) * n + z * h, c


def _cell(tf, arch, w, x_t, h, c):
    """One step of one direction of one layer. w: that direction's tensors (numpy)."""
    return recur(tf, arch, w, project(tf, arch, w, x_t), h, c)


def _weights(tf, arch, sd, layer: int, reverse: bool) -> dict:
    p = f"{arch.rnn_path}."
    s = f"_l{layer}" + ("_reverse" if reverse else "")
    w = {"ih": tf.constant(sd[p + "weight_ih" + s].T), "hh": tf.constant(sd[p + "weight_hh" + s].T)}
    b_ih, b_hh = sd.get(p + "bias_ih" + s), sd.get(p + "bias_hh" + s)
    rows = sd[p + "weight_ih" + s].shape[0]
    b_ih = np.zeros(rows, np.float32) if b_ih is None else b_ih
    b_hh = np.zeros(rows, np.float32) if b_hh is None else b_hh
    if arch.kind == "LSTM":
        w["b"] = tf.constant(b_ih + b_hh)
        if arch.proj_size:
            w["hr"] = tf.constant(sd[p + "weight_hr" + s].T)
    else:
        w["b_ih"], w["b_hh"] = tf.constant(b_ih), tf.constant(b_hh)
    return w


def recurrence(tf, arch, sd, seq, h0, c0, T: int):
    """seq (B, T, F) → (B, T, D·H), hn, cn (L·D, B, ·): every layer and direction, unrolled."""
    D = arch.directions
    hs, cs = tf.unstack(h0), (tf.unstack(c0) if c0 is not None else [None] * len(tf.unstack(h0)))
    hn, cn = [], []
    for layer in range(arch.num_layers):
        # UNPACK, not T slices: LiteRT's UNPACK checks at prepare that the axis holds exactly `num`
        # entries, so the artefact itself refuses another T ("data->num != input_shape->data[axis]
        # (20 != 33)") where slices would be resized silently and read past or short of the input.
        xs = tf.unstack(seq, num=T, axis=1)
        outs = []
        for d in range(D):
            w = _weights(tf, arch, sd, layer, reverse=d == 1)
            h, c = hs[layer * D + d], cs[layer * D + d]
            steps = [None] * T
            for t in (range(T - 1, -1, -1) if d == 1 else range(T)):
                h, c = _cell(tf, arch, w, xs[t], h, c)
                steps[t] = h
            outs.append(tf.stack(steps, axis=1))
            hn.append(h)
            cn.append(c)
        seq = outs[0] if D == 1 else tf.concat(outs, axis=2)
    return seq, tf.stack(hn), (tf.stack(cn) if arch.kind == "LSTM" else None)


def recurrence_while(tf, arch, sd, seq, h0, c0):
    """As recurrence(), for any T: one builtin WHILE per layer and direction over the same step cell,
    x_t read with GATHER and the outputs grown by CONCATENATION (appended, or prepended for the backward
    direction). seq (B, T, F) with T unknown until the call → (B, T, D·H), hn, cn."""
    D = arch.directions
    hs, cs = tf.unstack(h0), (tf.unstack(c0) if c0 is not None else [None] * len(tf.unstack(h0)))
    hn, cn = [], []
    T, B = tf.shape(seq)[1], tf.shape(seq)[0]
    for layer in range(arch.num_layers):
        outs = []
        for d in range(D):
            w = _weights(tf, arch, sd, layer, reverse=d == 1)
            h, c = hs[layer * D + d], cs[layer * D + d]
            width = h.shape[-1]
            lstm = c is not None

            def step(t, h, c, ys, w=w, d=d, x=seq, lstm=lstm):
                x_t = tf.gather(x, T - 1 - t if d == 1 else t, axis=1)
                h, c2 = _cell(tf, arch, w, x_t, h, c if lstm else None)
                ys = tf.concat([h[:, None], ys] if d == 1 else [ys, h[:, None]], axis=1)
                return t + 1, h, (c2 if lstm else c), ys

            c_init = c if lstm else tf.zeros([1])        # a GRU carries no cell state: a placeholder
            _, h, c_out, ys = tf.while_loop(
                lambda t, *_: t < T, step, [tf.constant(0), h, c_init, tf.zeros([B, 0, width])],
                shape_invariants=[tf.TensorShape([]), tf.TensorShape([None, width]), c_init.shape if not lstm
                                  else tf.TensorShape([None, c.shape[-1]]), tf.TensorShape([None, None, width])])
            outs.append(ys)
            hn.append(h)
            cn.append(c_out if lstm else None)
        seq = outs[0] if D == 1 else tf.concat(outs, axis=2)
    return seq, tf.stack(hn), (tf.stack(cn) if arch.kind == "LSTM" else None)


def recurrence_chunk(tf, arch, sd, seq, h0, c0, K: int):
    """As recurrence(), over a chunk of exactly K steps, shaped for XNNPACK: per layer the input half of the
    cell for all K steps is one FULLY_CONNECTED (project over B·K rows), then K recurrent halves, unrolled.
    Unidirectional only (a backward direction needs the whole sequence, not a chunk). seq (B, K, F) →
    (B, K, H), hn, cn (L, B, ·). Measured on the default model (one thread, XNNPACK, batch 1): the unrolled
    steps share nothing but the weights' buffer, so XNNPACK packs W_hh once per step and a long unroll falls
    out of cache (T = 100: 878 µs against 4 × 25-step chunks 499 µs) — hence chunks, not one long unroll."""
    if arch.directions != 1:
        raise ValueError("recurrence_chunk: a bidirectional layer's backward direction needs the whole sequence")
    hs, cs = tf.unstack(h0), (tf.unstack(c0) if c0 is not None else [None] * len(tf.unstack(h0)))
    hn, cn = [], []
    for layer in range(arch.num_layers):
        w = _weights(tf, arch, sd, layer, reverse=False)
        zx = tf.unstack(project(tf, arch, w, seq), num=K, axis=1)    # K × (B, G)
        h, c = hs[layer], cs[layer]
        steps = []
        for t in range(K):
            h, c = recur(tf, arch, w, zx[t], h, c)
            steps.append(h)
        seq = tf.stack(steps, axis=1)
        hn.append(h)
        cn.append(c)
    return seq, tf.stack(hn), (tf.stack(cn) if arch.kind == "LSTM" else None)
