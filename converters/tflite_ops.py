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
    from tensorflow.lite.tools import flatbuffer_utils as fbu

    model = fbu.read_model(str(path))
    codes = op_codes_of(model)
    return [codes[op.opcodeIndex] for g in model.subgraphs[:1] for op in g.operators]


def op_codes_of(model) -> list[str]:
    """The model's operator-code table as names."""
    from tensorflow.lite.python import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    codes = []
    for c in model.operatorCodes:
        code = max(c.builtinCode, c.deprecatedBuiltinCode)   # the schema's two fields for one code
        if code == schema.BuiltinOperator.CUSTOM:
            custom = c.customCode.decode() if isinstance(c.customCode, bytes) else str(c.customCode)
            codes.append(f"CUSTOM:{custom}")
        else:
            codes.append(names.get(code, f"BUILTIN_{code}"))
    return codes


def xnnpack_partitions(path: Path) -> tuple[Counter, int]:
    """→ (count of each op type XNNPACK took, number of partitions). Ops it leaves run on the
    builtin kernels. Loading with the delegate prints one INFO line, which is not ours to show."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from lstm_edge.converters.tensorflow_env import quiet_stderr

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


def semantic_fingerprint(path: Path) -> dict:
    """What the model computes, without what only names it: per subgraph the operators in order
    (op, inputs, outputs, options), every tensor's shape, dtype, quantization and the sha256 of
    its constant data, and the signatures' name → tensor mapping. Tensor names and metadata
    (converter version, …) are left out: they change the bytes, not the function."""
    import hashlib

    from tensorflow.lite.tools import flatbuffer_utils as fbu

    model = fbu.read_model(str(path))
    codes = op_codes_of(model)

    def data(t):
        buf = model.buffers[t.buffer].data if t.buffer < len(model.buffers) else None
        return None if buf is None or len(buf) == 0 else hashlib.sha256(bytes(buf)).hexdigest()

    def quant(t):
        q = t.quantization
        return None if q is None or q.scale is None else [list(map(float, q.scale)), list(map(int, q.zeroPoint))]

    return {
        "subgraphs": [{
            "operators": [[codes[op.opcodeIndex], list(map(int, op.inputs)), list(map(int, op.outputs)),
                           repr(vars(op.builtinOptions)) if op.builtinOptions is not None else None]
                          for op in g.operators],
            "tensors": [[list(map(int, t.shape if t.shape is not None else [])), int(t.type), quant(t), data(t)]
                        for t in g.tensors],
            "inputs": list(map(int, g.inputs)), "outputs": list(map(int, g.outputs))} for g in model.subgraphs],
        "signatures": [{"key": s.signatureKey.decode() if isinstance(s.signatureKey, bytes) else s.signatureKey,
                        "inputs": sorted((t.name.decode(), int(t.tensorIndex)) for t in s.inputs),
                        "outputs": sorted((t.name.decode(), int(t.tensorIndex)) for t in s.outputs)}
                       for s in model.signatureDefs or []],
    }


def semantic_diff(a: Path, b: Path) -> list[str]:
    """The fields in which two TFLite files differ: semantic ones by name, then names/metadata."""
    from tensorflow.lite.tools import flatbuffer_utils as fbu

    fa, fb = semantic_fingerprint(a), semantic_fingerprint(b)
    diffs = []
    for k, (ga, gb) in enumerate(zip(fa["subgraphs"], fb["subgraphs"])):
        for part in ("operators", "tensors", "inputs", "outputs"):
            if ga[part] != gb[part]:
                which = [i for i, (x, y) in enumerate(zip(ga[part], gb[part])) if x != y] if part in ("operators", "tensors") else []
                diffs.append(f"subgraph {k} {part}" + (f" {which[:10]}" if which else "")
                             + (f" (count {len(ga[part])} vs {len(gb[part])})" if len(ga[part]) != len(gb[part]) else ""))
    if len(fa["subgraphs"]) != len(fb["subgraphs"]):
        diffs.append(f"subgraph count {len(fa['subgraphs'])} vs {len(fb['subgraphs'])}")
    if fa["signatures"] != fb["signatures"]:
        diffs.append("signatures")
    ma, mb = fbu.read_model(str(a)), fbu.read_model(str(b))
    names = sum(ta.name != tb.name for ga, gb in zip(ma.subgraphs, mb.subgraphs) for ta, tb in zip(ga.tensors, gb.tensors))
    if names:
        diffs.append(f"tensor names ({names} differ; not semantic)")
    return diffs
