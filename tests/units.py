"""Helpers shared by fast tests: a tiny ONNX counter model and feeds for it."""
from __future__ import annotations

import numpy as np


def tiny_onnx(path, *, F=3, L=2, H=4, out=2, with_cn=True):
    """A counter, not an LSTM: y = x[:, :, :out], hn = h0 + 1, cn = c0 + 2 — so after k calls a carried state is k."""
    import onnx
    from onnx import TensorProto, helper

    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
          for n, s in (("x", ["B", "T", F]), ("h0", [L, "B", H]), ("c0", [L, "B", H]))]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
            for n, s in (("y", ["B", "T", out]), ("hn", [L, "B", H]), ("cn", [L, "B", H]))][:3 if with_cn else 2]
    consts = [helper.make_tensor("zero", TensorProto.INT64, [1], [0]), helper.make_tensor("o", TensorProto.INT64, [1], [out]),
              helper.make_tensor("axis", TensorProto.INT64, [1], [2]), helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
              helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])]
    nodes = [helper.make_node("Slice", ["x", "zero", "o", "axis"], ["y"]), helper.make_node("Add", ["h0", "one"], ["hn"])]
    if with_cn:
        nodes.append(helper.make_node("Add", ["c0", "two"], ["cn"]))
    else:
        io = io[:2]
    model = helper.make_model(helper.make_graph(nodes, "counter", io, outs, initializer=consts),
                              opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def feeds(B=2, T=5, F=3, L=2, H=4, seed=0):
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((B, T, F)).astype(np.float32), "h0": np.zeros((L, B, H), np.float32),
            "c0": np.zeros((L, B, H), np.float32)}
