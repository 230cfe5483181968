"""Read an ONNX file's protobuf wire format — no onnx package, as on the device — and refuse,
before onnxruntime parses it:

- external data outside the model's directory, absolute, through "..", or behind a link
  (exit 4: the path-traversal class of CVE-2022-25882 and CVE-2024-27318);
- initializers whose raw bytes disagree with their declared dims and dtype (exit 3: the
  ONNX checker does not compare them);
- bytes that are not a well-formed protobuf at all (exit 3).

Walks ModelProto.graph (7) → GraphProto.initializer (5) and node (1) → attribute (5) →
t (5) / g (6) / tensors (10) / graphs (11), so subgraphs are covered too.
"""
from __future__ import annotations

import math
from pathlib import Path, PurePosixPath

from lstm_edge.errors import InvalidInputError, SecurityRefusal

DTYPE_BYTES = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2}
MAX_DEPTH = 16


class Malformed(Exception):
    pass


def _varint(buf, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise Malformed("truncated varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def fields(buf, start: int, end: int):
    """(field number, wire type, value): varint → int, length-delimited → (start, end)."""
    i = start
    while i < end:
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1 or wire == 5:
            value, i = None, i + (8 if wire == 1 else 4)
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = (i, i + n), i + n
        else:
            raise Malformed(f"wire type {wire} at byte {i}")
        if i > end or number == 0:
            raise Malformed(f"field {number} runs past its message (byte {i} > {end})")
        yield number, wire, value


def _tensor(buf, span, where: str, model_dir: Path, problems: list) -> None:
    dims, dtype, raw, name, location, external = [], 0, None, "?", {}, False
    for number, wire, value in fields(buf, *span):
        if number == 1:
            if wire == 0:
                dims.append(value)
            else:                                                    # packed repeated int64
                i, end = value
                while i < end:
                    d, i = _varint(buf, i)
                    dims.append(d)
        elif number == 2 and wire == 0:
            dtype = value
        elif number == 8 and wire == 2:
            name = bytes(buf[value[0]:value[1]]).decode("utf-8", "replace")
        elif number == 9 and wire == 2:
            raw = value[1] - value[0]
        elif number == 13 and wire == 2:
            entry = {k: bytes(buf[v[0]:v[1]]).decode("utf-8", "replace") for k, _, v in fields(buf, *value) if k in (1, 2)}
            location[entry.get(1, "")] = entry.get(2, "")
        elif number == 14 and wire == 0:
            external = value == 1
    if external or location:
        _check_location(location.get("location", ""), name, where, model_dir)
    elif raw is not None and dtype in DTYPE_BYTES:
        want = math.prod(dims) * DTYPE_BYTES[dtype]
        if raw != want:
            problems.append(f"initializer '{name}': {raw} raw bytes, but dims {dims} of dtype {dtype} need {want}")


def _check_location(location: str, name: str, where: str, model_dir: Path) -> None:
    p = PurePosixPath(location)
    target = model_dir.joinpath(*p.parts) if location and not p.is_absolute() else None
    if (not location or p.is_absolute() or ".." in p.parts or target is None
            or target.is_symlink() or model_dir.resolve() not in target.resolve().parents):
        raise SecurityRefusal(f"{where}: initializer '{name}' keeps its data at {location!r}, outside the model's "
                              "directory or behind a link; refused", hint="external data must be a plain file beside the model")


def _graph(buf, span, where: str, model_dir: Path, problems: list, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise Malformed(f"subgraphs nested deeper than {MAX_DEPTH}")
    for number, wire, value in fields(buf, *span):
        if wire != 2:
            continue
        if number == 5:                                              # initializer
            _tensor(buf, value, where, model_dir, problems)
        elif number == 1:                                            # node → attributes
            for n2, w2, attr in fields(buf, *value):
                if n2 == 5 and w2 == 2:
                    for n3, w3, v3 in fields(buf, *attr):
                        if w3 == 2 and n3 in (5, 10):
                            _tensor(buf, v3, where, model_dir, problems)
                        elif w3 == 2 and n3 in (6, 11):
                            _graph(buf, v3, where, model_dir, problems, depth + 1)


def scan_onnx(path: Path) -> None:
    """Raise if the ONNX file at `path` is malformed, inconsistent or reaches outside its directory."""
    path = Path(path)
    buf = memoryview(path.read_bytes())
    problems: list[str] = []
    try:
        graphs = [v for number, wire, v in fields(buf, 0, len(buf)) if number == 7 and wire == 2]
        if not graphs:
            raise Malformed("no graph (ModelProto field 7)")
        for span in graphs:
            _graph(buf, span, str(path), path.parent, problems, 0)
    except Malformed as e:
        raise InvalidInputError(f"{path}: not a well-formed ONNX model: {e}",
                                hint="re-export it; a truncated or corrupted copy reads like this")
    if problems:
        raise InvalidInputError(f"{path}: " + "; ".join(problems[:5]), hint="re-export it: the file is inconsistent")
