"""A user's example shape against their module, before any export work (`export --module … --example-shape B,T,F`).

The first layer forward() calls is found with a forward pre-hook that stops the call before
that layer computes anything, so the check costs one partial forward. Its input width
(nn.Linear in_features, nn.LSTM/GRU input_size) against what it is handed: a mismatch is
exit 3 naming the layer and the feature count it takes, instead of torch's "mat1 and mat2
shapes cannot be multiplied" as an internal error. A forward() that fails before reaching any
such layer is left to the exporter, which names what it refuses.
"""
from __future__ import annotations


class _Reached(Exception):
    """Raised by the pre-hook: the first layer was reached; nothing after it runs."""


def first_layer(model, example):
    """(path, layer, the tensor it is given) for the first nn.Linear / nn.LSTM / nn.GRU / nn.RNN /
    nn.Embedding that forward() calls on `example`; None if forward() fails before one."""
    import torch
    from torch import nn

    names = {m: n for n, m in model.named_modules()}
    reached = []

    def pre(layer, args):
        reached.append((names[layer] or type(layer).__name__, layer, args[0] if args else None))
        raise _Reached

    kinds = (nn.Linear, nn.RNNBase, nn.Embedding)
    handles = [m.register_forward_pre_hook(pre) for m in model.modules() if isinstance(m, kinds)]
    try:
        with torch.no_grad():
            model(torch.from_numpy(example))
    except _Reached:
        pass
    except Exception:   # the module's own failure: the exporter names it
        return None
    finally:
        for h in handles:
            h.remove()
    return reached[0] if reached else None


def example_input(model, shape: tuple[int, ...]):
    """A seeded example of `shape` for the module: int64 token ids below num_embeddings when it has an
    nn.Embedding, N(0, 1) float32 otherwise (what export --module, init and a project convert at)."""
    import numpy as np

    embedding = next((m for m in model.modules() if type(m).__name__ == "Embedding"), None)
    rng = np.random.default_rng(0)
    return (rng.integers(0, embedding.num_embeddings, shape) if embedding is not None
            else rng.standard_normal(shape).astype(np.float32))


def check_example_shape(model, example, given: str | None = None, *, label: str | None = None) -> None:
    """Exit 3 when the example's feature count is not what the module's first layer takes. `given`: the
    --example-shape as typed (None: the example came from Python, lstm_edge.export's example_inputs);
    `label`: where the shape was given, when not on the command line (a project file's key)."""
    label = label or (f"--example-shape {given}" if given else f"the example of shape {tuple(example.shape)}")
    given = given or ",".join(str(v) for v in example.shape)
    import torch
    from torch import nn

    from lstm_edge.errors import InvalidInputError

    found = first_layer(model, example)
    if found is None:
        return
    path, layer, tensor = found
    if isinstance(layer, nn.Embedding):
        return                                   # token ids: drawn below num_embeddings, no feature axis
    if isinstance(tensor, nn.utils.rnn.PackedSequence):
        tensor = tensor.data
    if not isinstance(tensor, torch.Tensor) or tensor.ndim == 0:
        return
    width, takes = ("in_features", layer.in_features) if isinstance(layer, nn.Linear) else ("input_size", layer.input_size)
    got = int(tensor.shape[-1])
    if got == takes:
        return
    what = f"`{path}` (nn.{type(layer).__name__}, {width} {takes})"
    if tuple(tensor.shape) == tuple(example.shape):      # forward() hands x straight to it
        better = ",".join(str(v) for v in example.shape[:-1]) + f",{takes}" if example.ndim >= 3 else f"{given},{takes}"
        raise InvalidInputError(f"{label}: the module's first layer {what} takes {takes} features, "
                                f"the example has {got} on its last axis",
                                hint=f"--example-shape {better}")
    raise InvalidInputError(f"{label}: forward() hands its first layer {what} a tensor of shape "
                            f"{tuple(tensor.shape)}, whose last axis is {got}, not {takes}",
                            hint=f"give x's shape as forward() expects it, with {takes} features where the first layer reads them")
