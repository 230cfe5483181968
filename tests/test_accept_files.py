"""Acceptance (issue 21): every valid file of every kind lstm-edge reads is named as that kind by
runtime/sniff.py and read back equal — the half of fuzzing that test_fuzz.py (malformed inputs
are refused) does not cover. A safetensors file starts with its header length, so 640, 896, 1152
and 1408 (80 02 … to 80 05 …) were once refused as pickles: the sweeps below try every low byte.

Hypothesis example counts (EXAMPLES, accept_helpers.py) keep the file in the fast loop; what must be
exhaustive (all 256 low bytes of a header length) is a plain loop, not left to chance. ONNX, ORT and
TFLite: test_accept_models.py.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import pickle
import struct

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from safetensors import safe_open
from safetensors.numpy import load_file, save

from lstm_edge.runtime.sniff import expect, read_npz, sniff
from accept_helpers import EXAMPLES, _base, same, write  # noqa: F401  (_base: the autouse fixture write() needs)

ISSUE_21 = (640, 896, 1152, 1408)               # 80 02 … 80 05 …: the pickle protocol marker
GZIP_LOOKALIKE = 0x8B1F                          # 1f 8b …: gzip's magic (needs an unaligned header)
ST_CODE = {np.dtype(t): c for c, t in [("BOOL", np.bool_), ("U8", np.uint8), ("I8", np.int8), ("I16", np.int16),
                                       ("U16", np.uint16), ("F16", np.float16), ("I32", np.int32), ("U32", np.uint32),
                                       ("F32", np.float32), ("I64", np.int64), ("U64", np.uint64), ("F64", np.float64)]}
# first and second bytes of the magic numbers sniff knows (pickle, gzip, zip, PNG, npy, ONNX):
# drawn more often than chance would, so each run tries a header length that looks like one
MAGIC_BYTES = ((0x80, 0x1F, 0x50, 0x89, 0x93, 0x08), (2, 3, 4, 5, 0x8B, 0x4B))
PAD = "~pad"                                     # the metadata key that stretches a header to a chosen length
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)


# --- safetensors ---------------------------------------------------------------------------------

names = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=8)
tensors = st.dictionaries(names.filter(lambda n: n != "__metadata__"),
                          st.sampled_from(sorted(ST_CODE, key=str)).flatmap(lambda dt: hnp.arrays(dt, shapes)), max_size=4)
metadata = st.none() | st.dictionaries(names.filter(lambda n: n != PAD), st.text(max_size=8), max_size=3)


def header_length(blob: bytes) -> int:
    return struct.unpack("<Q", blob[:8])[0]


def at_least(length: int, floor: int) -> int:
    """`length` raised by whole multiples of 256 until ≥ floor: its low byte is kept."""
    return length + 256 * max(0, -(-(floor - length) // 256))


def library_safetensors(arrays: dict, meta: dict | None, length: int | None) -> tuple[bytes, dict | None]:
    """safetensors.numpy.save, its header stretched to `length` (a multiple of 8: the library aligns
    headers) by a metadata entry; None: the library's own length. → (file, metadata written)."""
    if length is None:
        return save(arrays, metadata=meta), meta
    meta = dict(meta or {}) | {PAD: ""}
    blob = save(arrays, metadata=meta)
    used = len(blob[8:8 + header_length(blob)].rstrip(b" "))      # the JSON without the library's alignment
    meta[PAD] = "x" * (at_least(length, used) - used)
    blob = save(arrays, metadata=meta)
    assert header_length(blob) == at_least(length, used)
    return blob, meta


def handwritten_safetensors(arrays: dict, meta: dict | None, length: int, compact: bool = True) -> bytes:
    """The format as specified (and as writers that do not align produce it): any header length,
    the JSON padded with trailing spaces."""
    header, data = ({"__metadata__": meta} if meta is not None else {}), b""
    for k, a in arrays.items():
        raw = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[k] = {"dtype": ST_CODE[a.dtype], "shape": list(a.shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":") if compact else None).encode()
    length = at_least(length, len(text))
    return struct.pack("<Q", length) + text + b" " * (length - len(text)) + data


def accepted_safetensors(blob: bytes, arrays: dict, meta: dict | None) -> None:
    path = write(blob, "w.safetensors")
    assert sniff(path) == "safetensors", blob[:16]
    expect(path, "safetensors")                                      # the gate of both weight loaders
    same(load_file(str(path)), arrays)
    with safe_open(str(path), "np") as f:
        assert (f.metadata() or {}) == (meta or {})


@settings(max_examples=EXAMPLES["safetensors"], deadline=None)
@given(tensors, metadata, st.none() | st.sampled_from(ISSUE_21) |
       st.builds(lambda lo, hi: 256 * hi + lo, st.sampled_from(range(0, 256, 8)), st.integers(0, 6)))
def test_safetensors_from_the_library_is_accepted(arrays, meta, length):
    # safetensors 0.8.0's writer emits invalid JSON ('{},"__metadata__":{}}') for no tensors with an
    # empty metadata dict: its own loader refuses that file, so it is not a valid input to generate
    assume(arrays or meta != {} or length is not None)
    blob, written = library_safetensors(arrays, meta, length)
    accepted_safetensors(blob, arrays, written)


@settings(max_examples=EXAMPLES["safetensors"], deadline=None)
@given(tensors, metadata, st.sampled_from(MAGIC_BYTES[0]) | st.integers(0, 255),
       st.sampled_from(MAGIC_BYTES[1]) | st.integers(0, 6), st.booleans())
def test_safetensors_with_any_header_length_is_accepted(arrays, meta, low, high, compact):
    blob = handwritten_safetensors(arrays, meta, 256 * high + low, compact)
    assert blob[0] == low
    accepted_safetensors(blob, arrays, meta)


def test_every_low_byte_of_the_header_length_is_accepted():
    """Exhaustive: each of the 256 low bytes under second bytes 2..5 (hand-written: any length),
    and each of the 32 the library can write (it aligns headers to 8)."""
    arrays = {"lstm.weight_ih_l0": np.arange(12, dtype=np.float32).reshape(4, 3), "head.bias": np.ones(2, np.float16)}
    for second in (2, 3, 4, 5):
        for low in range(256):
            accepted_safetensors(handwritten_safetensors(arrays, {"k": "v"}, 256 * second + low), arrays, {"k": "v"})
        for low in range(0, 256, 8):
            blob, meta = library_safetensors(arrays, None, 256 * second + low)
            assert blob[:2] == bytes([low, second])
            accepted_safetensors(blob, arrays, meta)


# --- issue 21: the exact header lengths through the project's weight loaders ----------------------

NET = """from torch import nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn, self.head = nn.LSTM(3, 4, batch_first=True), nn.Linear(4, 2)
    def forward(self, x):
        return self.head(self.rnn(x)[0])
"""


def net_and_state(seed: int):
    """A user's module (the source the CLI test imports from a file) and its state as numpy."""
    import torch

    torch.manual_seed(seed)
    scope = {}
    exec(NET, scope)
    net = scope["Net"]()
    return net, {k: v.numpy().copy() for k, v in net.state_dict().items()}


@pytest.mark.parametrize("length", ISSUE_21)
def test_issue_21_header_lengths_load_as_byo_weights(tmp_path, length):
    from lstm_edge.byo.load import load_weights

    _, state = net_and_state(0)
    path = tmp_path / "model.safetensors"
    path.write_bytes(library_safetensors(state, {"format": "pt"}, length)[0])
    assert path.read_bytes()[:3] == bytes([0x80, length >> 8, 0]) and sniff(path) == "safetensors"
    model, _ = net_and_state(1)
    load_weights(model, path)                                        # was: SecurityRefusal, exit 4
    same({k: v.numpy() for k, v in model.state_dict().items()}, state)


@pytest.mark.parametrize("length", ISSUE_21 + (GZIP_LOOKALIKE,))
def test_issue_21_header_lengths_load_as_a_checkpoint(tmp_path, length):
    from lstm_edge.train import checkpoint as ckpt

    dims = {"input_size": 3, "hidden_size": 4, "num_layers": 1, "output_size": 2}
    rng = np.random.default_rng(length)
    tensors = {k: rng.standard_normal(s).astype(np.float32) for k, s in ckpt.expected_shapes(dims).items()}
    blob = handwritten_safetensors(tensors, {}, length) if length % 8 else library_safetensors(tensors, {}, length)[0]
    assert header_length(blob) == length
    (tmp_path / ckpt.WEIGHTS).write_bytes(blob)
    (tmp_path / ckpt.META).write_text(json.dumps({"dims": dims, "weights_sha256": hashlib.sha256(blob).hexdigest()}))
    same(ckpt.load_checkpoint(tmp_path)[0], tensors)


def test_issue_21_byo_export_cli_does_not_refuse(tmp_path):
    """The reported command, ONNX only (TFLite would convert with TensorFlow: slow)."""
    from typer.testing import CliRunner

    from lstm_edge.cli import app

    (tmp_path / "net.py").write_text(NET)
    _, state = net_and_state(0)
    (tmp_path / "net.safetensors").write_bytes(library_safetensors(state, {"format": "pt"}, 896)[0])
    assert (tmp_path / "net.safetensors").read_bytes()[:2] == b"\x80\x03"
    r = CliRunner().invoke(app, ["export", str(tmp_path / "out"), "--module", f"{tmp_path / 'net.py'}:Net", "--weights",
                                 str(tmp_path / "net.safetensors"), "--example-shape", "2,5,3", "--format", "onnx"])
    assert r.exit_code == 0 and "pickle" not in r.output, r.output[-800:]
    assert sniff(tmp_path / "out" / "model.onnx") == "onnx"


# --- the other kinds sniff mis-named before (found while fixing issue 21) --------------------------

@pytest.mark.parametrize("blob,kind", [
    (b"\xef\xbb\xbf{\"schema\": 1}\n", "json"),                             # a BOM before JSON: was "text"
    (b"[time],temperature\r\n1,2.5\r\n2,3.5\r\n", "text"),                  # a CSV starting "[": was "json"
    (("a" * 63 + "é,b\n1,2\n3,4\n").encode(), "text"),                      # é cut at byte 64: was "unknown"
    (struct.pack("<Q", GZIP_LOOKALIKE) + b"{" + b" " * (GZIP_LOOKALIKE - 2) + b"}", "safetensors"),  # was "gzip"
    (handwritten_safetensors({"w": np.ones(3, np.float32)}, None, 896)[:-2], "safetensors"),  # damaged: exit 3, not 4
] + [(pickle.dumps({"w": [1.0]}, protocol=p), "pickle") for p in (2, 3, 4, 5)])
def test_kinds_sharing_a_prefix_are_decided_by_structure(blob, kind):
    assert sniff(write(blob, "f")) == kind


# --- npz: read back through read_npz, the reader of test sets, bundles and device inputs ----------

@settings(max_examples=EXAMPLES["npz"], deadline=None)
@given(st.dictionaries(st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=8).filter(
    lambda k: k not in ("file", "allow_pickle")),                       # np.savez's own keyword arguments
    st.sampled_from(sorted(ST_CODE, key=str) + [np.dtype(np.complex64), np.dtype("<U3"), np.dtype("S2")]).flatmap(
        lambda dt: hnp.arrays(dt, shapes)), max_size=4), st.booleans())
def test_npz_is_accepted(arrays, compressed):
    path = write(b"", "in.npz")
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    assert sniff(path) == "zip"
    same(read_npz(path), arrays)


# --- CSV: read back through load_csv ---------------------------------------------------------------

def _number(s: str) -> bool:
    try:
        return float(s) is not None
    except ValueError:
        return False


# load_csv strips cells and splits lines with str.splitlines (which also breaks at U+2028, \x1c…):
# names are generated without surrounding whitespace or line breaks; a quoted newline is tested below.
column_names = st.lists(st.text(st.characters(exclude_categories=("Cs", "Cc", "Zl", "Zp"), exclude_characters="\ufeff"),
                                min_size=1, max_size=8).filter(lambda n: n == n.strip() and not _number(n)),
                        min_size=1, max_size=4, unique=True)


def csv_bytes(names, rows, *, bom=False, newline="\n", quoting=csv.QUOTE_MINIMAL, trailing=True, fmt=repr) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, quoting=quoting, lineterminator=newline)
    w.writerow(names)
    w.writerows([[fmt(float(v)) for v in row] for row in rows])
    text = buf.getvalue() if trailing else buf.getvalue()[:-len(newline)]
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode()


@settings(max_examples=EXAMPLES["csv"], deadline=None)
@given(column_names, st.integers(2, 6), st.data(), st.booleans(), st.sampled_from(["\n", "\r\n"]),
       st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]), st.booleans(), st.sampled_from([repr, "{:.9g}".format]))
def test_csv_is_accepted(names, n, data, bom, newline, quoting, trailing, fmt):
    from lstm_edge.data.csv_loader import load_csv

    finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
    values = np.array([data.draw(st.lists(finite32, min_size=n, max_size=n, unique=True)) for _ in names], np.float32).T
    path = write(csv_bytes(names, values, bom=bom, newline=newline, quoting=quoting, trailing=trailing, fmt=fmt), "d.csv")
    assert sniff(path) == "text"
    series = load_csv(path, targets=names[-1:], features=names[:-1])   # unique values: no constant column
    assert series.columns == tuple(names)
    np.testing.assert_array_equal(series.values, values)


def test_csv_with_a_quoted_line_break_is_accepted():
    """A line break inside a quoted field is part of the name (str.splitlines once dropped it)."""
    from lstm_edge.data.csv_loader import load_csv

    path = write(csv_bytes(["temperature\n(°C)", "load"], [[1.5, 2.0], [2.5, 3.0]]), "d.csv")
    assert load_csv(path, targets=["load"]).columns == ("temperature\n(°C)", "load")


# --- the device side: live rows (runtime/harness/rows.py, read by `python -m lstm_edge.runtime run`
# and `lstm-edge stream`) take the same valid files -------------------------------------------------

@settings(max_examples=EXAMPLES["csv"], deadline=None)
@given(column_names, st.integers(1, 6), st.data(), st.booleans(), st.sampled_from(["\n", "\r\n"]),
       st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]), st.booleans(), st.sampled_from([repr, "{:.9g}".format]))
def test_csv_is_accepted_as_live_rows(names, n, data, bom, newline, quoting, trailing, fmt):
    """A BOM (Excel's "CSV UTF-8") was read into the first column's name: the device refused the file."""
    from lstm_edge.runtime.harness.rows import rows_from_file

    finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
    values = np.array([data.draw(st.lists(finite32, min_size=n, max_size=n)) for _ in names], np.float32).T
    path = write(csv_bytes(names, values, bom=bom, newline=newline, quoting=quoting, trailing=trailing, fmt=fmt), "live.csv")
    assert sniff(path) == "text"
    order = data.draw(st.permutations(names))                          # the model's feature order, not the file's
    got = np.array(list(rows_from_file(path, order)), np.float32).reshape(n, len(names))
    np.testing.assert_array_equal(got, values[:, [names.index(c) for c in order]])


@settings(max_examples=EXAMPLES["npz"], deadline=None)
@given(hnp.arrays(np.float32, st.tuples(st.integers(0, 5), st.just(3)), elements=st.floats(width=32, allow_nan=False)),
       st.booleans())
def test_npz_is_accepted_as_live_rows(x, compressed):
    from lstm_edge.runtime.harness.rows import rows_from_file

    path = write(b"", "live.npz")
    (np.savez_compressed if compressed else np.savez)(path, x=x)
    got = list(rows_from_file(path, ["a", "b", "c"]))
    np.testing.assert_array_equal(np.array(got, np.float32).reshape(x.shape), x)


def test_live_rows_with_blank_lines_and_a_quoted_line_break():
    from lstm_edge.runtime.harness.rows import rows_from_file

    path = write(b'\xef\xbb\xbf"temp\r\n(C)",load\r\n1.5,2\r\n\r\n2.5,3\r\n\r\n', "live.csv")
    np.testing.assert_array_equal(np.array(list(rows_from_file(path, ["load", "temp\r\n(C)"]))), [[2, 1.5], [3, 2.5]])
