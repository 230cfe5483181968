"""What a TFLite artefact asks of the device: its ops, whether all are builtin, and which of
them the XNNPACK delegate takes.

Op codes are read from the flatbuffer itself (so a Flex or custom op is named even where
LiteRT could not load the model). XNNPACK's share is measured, not looked up: LiteRT is
opened with its default delegate, which appends one DELEGATE node per partition it took;
a partition is recovered from the node's boundary tensors — the original nodes that lie
between the delegate node's inputs and outputs (walk back from its outputs through the
producing nodes, stopping at its inputs).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path


def op_codes(path: Path) -> list[str]:
    """Every operator of the main subgraph, in order: builtin name, or 'CUSTOM:<code>'."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils as fbu

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = fbu.read_model(str(path))
    codes = []
    for c in model.operatorCodes:
        code = max(c.builtinCode, c.deprecatedBuiltinCode)   # the schema's two fields for one code
        if code == schema.BuiltinOperator.CUSTOM:
            custom = c.customCode.decode() if isinstance(c.customCode, bytes) else str(c.customCode)
            codes.append(f"CUSTOM:{custom}")
        else:
            codes.append(names.get(code, f"BUILTIN_{code}"))
    return [codes[op.opcodeIndex] for g in model.subgraphs[:1] for op in g.operators]


def xnnpack_partitions(path: Path) -> tuple[Counter, int]:
    """→ (count of each op type XNNPACK took, number of partitions). Ops it leaves run on the
    builtin kernels. Loading with the delegate prints one INFO line, which is not ours to show."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from lstm_edge.converters.to_tflite import quiet_stderr

    with quiet_stderr():
        it = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.AUTO)
        it.allocate_tensors()   # the default delegate is applied lazily, here
    ops = it._get_ops_details()   # the original nodes, then one DELEGATE node per partition
    producer = {t: op["index"] for op in ops if op["op_name"] != "DELEGATE" for t in op["outputs"]}
    taken: Counter = Counter()
    delegates = [op for op in ops if op["op_name"] == "DELEGATE"]
    for d in delegates:
        boundary, seen = set(int(t) for t in d["inputs"]), set()
        todo = [producer[int(t)] for t in d["outputs"] if int(t) in producer]
        while todo:
            n = todo.pop()
            if n in seen:
                continue
            seen.add(n)
            todo += [producer[int(t)] for t in ops[n]["inputs"] if int(t) not in boundary and int(t) in producer]
        taken.update(ops[n]["op_name"] for n in seen)
    return taken, len(delegates)


def op_table(path: Path) -> dict:
    """The op report of one TFLite artefact (recorded in the bundle manifest)."""
    ops = Counter(op_codes(path))
    custom = sorted(o for o in ops if o.startswith("CUSTOM:"))
    flex = [o.split(":", 1)[1] for o in custom if o.split(":", 1)[1].startswith("Flex")]
    table = {"ops": dict(sorted(ops.items())), "all_builtin": not custom, "flex_ops": flex,
             "custom_ops": [o.split(":", 1)[1] for o in custom]}
    if not custom:   # a model with custom ops does not load without its resolver
        taken, partitions = xnnpack_partitions(path)
        table["xnnpack"] = {"partitions": partitions, "delegated": dict(sorted(taken.items())),
                            "not_delegated": {o: n - taken.get(o, 0) for o, n in sorted(ops.items())
                                              if n > taken.get(o, 0)}}
    return table
