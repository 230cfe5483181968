"""What the graph converter maps: every node a torch.fx trace of a user's module may hold, with
its TensorFlow form (torch semantics: dims, layouts and defaults as torch.nn and torch.* define
them). trace.py refuses any node not named here — by its call, its module class and the line of
forward() it came from — so what is accepted is exactly what to_tflite.py can build; ONNX needs
no table (torch.onnx exports the module itself, to_onnx.py checks the recurrent ops it wrote).

A TF value is a tensor, a Python number, a tuple of them (a recurrent layer's (y, (h, c))) or a
shape (tf.shape: `x.size(1)` stays dynamic, so `repeat(1, x.size(1), 1)` takes any T).
"""
from __future__ import annotations

import operator

from lstm_edge.byo import support

MODULES = {   # leaf module class → what it is (refused: support.REFUSED, anything else not here)
    "LSTM": "recurrent (fused UNIDIRECTIONAL_SEQUENCE_LSTM where it maps, else a builtin WHILE)",
    "GRU": "recurrent (a builtin WHILE over the cell)",
    "Linear": "FULLY_CONNECTED", "Embedding": "GATHER", "LayerNorm": "MEAN, SQUARED_DIFFERENCE, RSQRT, MUL, ADD",
    "Conv1d": "CONV_2D (zero padding, groups = 1)", "BatchNorm1d": "MUL, ADD (running statistics)",
    "Dropout": "the identity at inference", "Flatten": "RESHAPE",
} | {name: op.tflite for name, op in support.ACTIVATIONS.items()}


def _shape(tf, v):
    """A shape argument (ints, dynamic sizes, or one list/tuple/shape of them) → an int32 vector."""
    if len(v) == 1 and not isinstance(v[0], int):
        v = v[0]
    if hasattr(v, "dtype"):
        return tf.cast(v, tf.int32)
    return tf.stack([tf.cast(s, tf.int32) for s in v])


def _dims(args) -> tuple:
    return tuple(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else tuple(args)


def _rank(x) -> int:
    return len(x.shape)


def _transpose(tf, x, a, b):
    perm = list(range(_rank(x)))
    perm[a], perm[b] = perm[b], perm[a]
    return tf.transpose(x, perm)


def _squeeze(tf, x, dim=None):
    if dim is None:
        raise ValueError("squeeze() without a dim drops every axis of size 1, the batch or time too when B or "
                         "T is 1: name the dim, e.g. .squeeze(-1)")
    if x.shape[dim] is not None and x.shape[dim] != 1:
        return x                          # torch: squeezing a dim that is not 1 leaves the tensor as it is
    return tf.squeeze(x, axis=dim)


def _expand(tf, x, *sizes):
    sizes = _dims(sizes)
    have = tf.shape(x)
    lead = len(sizes) - _rank(x)
    dims = [have[k - lead] if isinstance(s, int) and s == -1 else s for k, s in enumerate(sizes)]
    return tf.broadcast_to(x, _shape(tf, dims))


def _flatten(tf, x, start_dim=0, end_dim=-1):
    r = _rank(x)
    s, e = start_dim % r, end_dim % r
    shape = tf.shape(x)
    return tf.reshape(x, tf.concat([shape[:s], [-1], shape[e + 1:]], axis=0))


def _reduce(f):
    def apply(tf, x, dim=None, keepdim=False, dtype=None):
        return f(tf)(x, axis=list(dim) if isinstance(dim, (tuple, list)) else dim, keepdims=keepdim)
    return apply


def _softmax(tf, x, dim=None, dtype=None, **_):
    return tf.nn.softmax(x, axis=-1 if dim is None else dim)


def _getitem(tf, x, idx):
    return x[idx]


def _tile(tf, x, *sizes):
    sizes = _dims(sizes)
    if len(sizes) != _rank(x):
        raise ValueError(f"repeat() with {len(sizes)} sizes on a rank-{_rank(x)} tensor (it would add axes): "
                         "unsqueeze first so that every axis is named")
    return tf.tile(x, _shape(tf, sizes))


def _activation(name):
    return lambda tf, x, *a, **k: support.ACTIVATIONS[name].tf(tf, x, **(support.ACTIVATIONS[name].args | k))


FUNCTIONS = {   # call_function targets, by qualified name → (tf, *args, **kwargs) → value
    "_operator.add": lambda tf, a, b: a + b, "_operator.sub": lambda tf, a, b: a - b,
    "_operator.mul": lambda tf, a, b: a * b, "_operator.truediv": lambda tf, a, b: a / b,
    "_operator.neg": lambda tf, a: -a, "_operator.getitem": _getitem, "_operator.matmul": lambda tf, a, b: tf.matmul(a, b),
    "builtins.getattr": lambda tf, x, name: _getattr(tf, x, name),                  # x.shape
    "torch.add": lambda tf, a, b: a + b, "torch.mul": lambda tf, a, b: a * b, "torch.sub": lambda tf, a, b: a - b,
    "torch.cat": lambda tf, ts, dim=0: tf.concat(list(ts), axis=dim),
    "torch.concat": lambda tf, ts, dim=0: tf.concat(list(ts), axis=dim),
    "torch.stack": lambda tf, ts, dim=0: tf.stack(list(ts), axis=dim),
    "torch.matmul": lambda tf, a, b: tf.matmul(a, b), "torch.bmm": lambda tf, a, b: tf.matmul(a, b),
    "torch.tanh": lambda tf, x: tf.tanh(x), "torch.sigmoid": lambda tf, x: tf.sigmoid(x),
    "torch.relu": lambda tf, x: tf.nn.relu(x), "torch.exp": lambda tf, x: tf.exp(x),
    "torch.softmax": _softmax, "torch.nn.functional.softmax": _softmax,
    "torch.sum": _reduce(lambda tf: tf.reduce_sum), "torch.mean": _reduce(lambda tf: tf.reduce_mean),
    "torch.flatten": _flatten, "torch.transpose": _transpose, "torch.squeeze": _squeeze,
    "torch.unsqueeze": lambda tf, x, dim: tf.expand_dims(x, dim),
    "torch.nn.functional.relu": lambda tf, x, inplace=False: tf.nn.relu(x),
    "torch.nn.functional.gelu": lambda tf, x, approximate="none": tf.nn.gelu(x, approximate=approximate == "tanh"),
    "torch.nn.functional.silu": lambda tf, x, inplace=False: x * tf.sigmoid(x),
    "torch.nn.functional.dropout": lambda tf, x, *a, **k: x,
    "torch.nn.functional.leaky_relu": lambda tf, x, negative_slope=0.01, inplace=False: tf.nn.leaky_relu(x, negative_slope),
}
METHODS = {     # call_method names → (tf, self, *args, **kwargs) → value
    "size": lambda tf, x, dim=None: tf.shape(x) if dim is None else tf.shape(x)[dim],
    "view": lambda tf, x, *s: tf.reshape(x, _shape(tf, s)), "reshape": lambda tf, x, *s: tf.reshape(x, _shape(tf, s)),
    "permute": lambda tf, x, *d: tf.transpose(x, list(_dims(d))), "transpose": _transpose,
    "unsqueeze": lambda tf, x, dim: tf.expand_dims(x, dim), "squeeze": _squeeze, "repeat": _tile,
    "expand": _expand, "contiguous": lambda tf, x, *a, **k: x, "flatten": _flatten,
    "float": lambda tf, x: tf.cast(x, tf.float32),
    "sum": _reduce(lambda tf: tf.reduce_sum), "mean": _reduce(lambda tf: tf.reduce_mean), "softmax": _softmax,
    "tanh": lambda tf, x: tf.tanh(x), "sigmoid": lambda tf, x: tf.sigmoid(x), "relu": lambda tf, x: tf.nn.relu(x),
    "exp": lambda tf, x: tf.exp(x), "add": lambda tf, a, b: a + b, "mul": lambda tf, a, b: a * b,
    "sub": lambda tf, a, b: a - b, "matmul": lambda tf, a, b: tf.matmul(a, b), "bmm": lambda tf, a, b: tf.matmul(a, b),
}
def _getattr(tf, x, name: str):
    if name != "shape":
        raise ValueError(f"forward() reads the tensor attribute .{name}; only .shape is mapped")
    return tf.shape(x)


def function_name(target) -> str:
    if target in (operator.add, operator.sub, operator.mul, operator.truediv, operator.neg, operator.getitem,
                  operator.matmul):
        return f"_operator.{target.__name__}"
    if target is getattr:
        return "builtins.getattr"
    module = getattr(target, "__module__", None) or ""
    module = {"torch._C._nn": "torch.nn.functional", "torch._C._VariableFunctions": "torch",
              "torch.functional": "torch"}.get(module, module)
    return f"{module}.{getattr(target, '__name__', repr(target))}"


def module_tf(tf, name: str, module, x):
    """A leaf module (not recurrent) applied to x, as torch defines it."""
    import numpy as np

    def p(t):
        return None if t is None else t.detach().numpy().astype(np.float32)

    if name in ("Dropout", "Identity"):
        return x
    if name == "Linear":
        y = tf.matmul(x, p(module.weight).T)
        return y if module.bias is None else y + p(module.bias)
    if name == "Embedding":
        return tf.gather(p(module.weight), tf.cast(x, tf.int32))
    if name == "LayerNorm":
        axes = list(range(-len(module.normalized_shape), 0))
        mean, var = tf.nn.moments(x, axes=axes, keepdims=True)
        y = (x - mean) * tf.math.rsqrt(var + module.eps)
        if module.weight is not None:
            y = y * p(module.weight)
        return y if getattr(module, "bias", None) is None else y + p(module.bias)
    if name == "BatchNorm1d":      # (B, C) or (B, C, L), eval mode: the running statistics
        scale = p(module.weight) if module.weight is not None else 1.0
        scale = scale / np.sqrt(p(module.running_var) + module.eps)
        shift = (p(module.bias) if module.bias is not None else 0.0) - p(module.running_mean) * scale
        shape = [-1, 1] if _rank(x) == 3 else [-1]
        return x * np.reshape(scale, shape).astype(np.float32) + np.reshape(shift, shape).astype(np.float32)
    if name == "Conv1d":           # torch (B, C, L) → NLC for CONV_2D, and back
        k, d, s = module.kernel_size[0], module.dilation[0], module.stride[0]
        pad = module.padding
        left, right = ((d * (k - 1)) // 2, d * (k - 1) - (d * (k - 1)) // 2) if pad == "same" else \
            (0, 0) if pad == "valid" else (pad[0], pad[0])
        y = tf.pad(tf.transpose(x, [0, 2, 1]), [[0, 0], [left, right], [0, 0]])
        y = tf.nn.conv1d(y, p(module.weight).transpose(2, 1, 0), stride=s, padding="VALID", dilations=d)
        y = y if module.bias is None else y + p(module.bias)
        return tf.transpose(y, [0, 2, 1])
    if name == "Flatten":
        return _flatten(tf, x, module.start_dim, module.end_dim)
    if name == "Softmax":
        return tf.nn.softmax(x, axis=-1 if module.dim is None else module.dim)
    op = support.ACTIVATIONS[name]
    return op.tf(tf, x, **{k: getattr(module, k, v) for k, v in op.args.items()})


MODULE_OPTIONS = {   # class → (attribute, is it unsupported?, why)
    "Conv1d": [("groups", lambda v: v != 1, "grouped or depthwise convolution is not mapped"),
               ("padding_mode", lambda v: v != "zeros", "only zero padding is mapped")],
    "BatchNorm1d": [("track_running_stats", lambda v: not v, "without running statistics it normalises by the batch")],
    "Embedding": support.OPTIONS["Embedding"],
}
