"""What a file is, by its first bytes — before any parser or native runtime sees it.

A `.pt` renamed `.onnx`, an empty download, an HTML error page saved as a model: each is named
for what it is ("this is a PyTorch zip checkpoint, not an ONNX model"), instead of surfacing
as a runtime's parse error or, worse, a crash.

    kind = sniff(path)        # "tflite", "ort", "onnx", "safetensors", "zip", "torch-zip", "pickle",
                              # "npy", "gzip", "png", "json", "text", "empty", "unknown"
    expect(path, "onnx")      # raises InvalidInputError (or SecurityRefusal for a pickle)

Order matters: a safetensors file starts with its header length, eight arbitrary bytes, so it
can begin with any magic number (896 = 80 03 …, a pickle's marker; 35615 = 1f 8b …, gzip's).
So the kinds that can be *proved* by their structure are tried first, and the one- and
two-byte markers only after them (issue 21: every valid file must be named as what it is):

  1. safetensors, by structure: header length within the file, a JSON object at byte 8 that
     parses, every tensor's data_offsets inside the data and the last one ending the file;
  2. flatbuffers (TFLite 'TFL3', ORT 'ORTM' at byte 4) whose root offset lies inside the file;
  3. magic numbers: zip (then torch-zip if it holds a .pkl), PNG, npy, gzip, and a pickle —
     0x80, a protocol 2..5, then a byte that is a pickle opcode (no valid pickle has 0x00
     there; a safetensors header shorter than 64 KiB always does);
  4. a safetensors file by its shape only (JSON at byte 8) — a damaged one, for its loader
     to name the damage (exit 3) rather than being called "text";
  5. JSON (after an optional UTF-8 BOM) that parses; ONNX by its leading ir_version; UTF-8 text.
A pickle named as something else is still never unpickled: only step 3 can say "pickle", and
every other kind goes to a parser that does not unpickle.
"""
from __future__ import annotations

import codecs
import json
import pickletools
from pathlib import Path

from lstm_edge.errors import InvalidInputError, SecurityRefusal

DESCRIPTION = {
    "tflite": "a TFLite flatbuffer model", "ort": "an onnxruntime ORT-format model", "onnx": "an ONNX model",
    "safetensors": "a safetensors file", "zip": "a zip archive (a PyTorch checkpoint, or an npz)",
    "pickle": "a Python pickle (a PyTorch .pt/.pth checkpoint)",
    "torch-zip": "a PyTorch zip checkpoint (torch.save: a pickle inside)", "png": "a PNG image", "npy": "a numpy .npy array",
    "gzip": "a gzip archive",
    "json": "a JSON document", "text": "a text file", "empty": "an empty file", "unknown": "not a format lstm-edge knows",
}
SUFFIX_KIND = {".onnx": "onnx", ".ort": "ort", ".tflite": "tflite", ".safetensors": "safetensors", ".npz": "zip"}

HEAD = 64
MAX_SAFETENSORS_HEADER = 100_000_000      # the safetensors library refuses larger headers (HeaderTooLarge)
JSON_PARSE_LIMIT = 16 << 20               # larger documents are named by their first byte alone
# Every opcode byte a pickle can hold; read from the stdlib table, nothing is unpickled.
PICKLE_OPCODES = frozenset(ord(op.code) for op in pickletools.opcodes)
MAGIC = ((b"PK\x03\x04", "zip"), (b"PK\x05\x06", "zip"), (b"\x89PNG", "png"), (b"\x93NUMPY", "npy"),
         (b"\x1f\x8b", "gzip"))
BOM = codecs.BOM_UTF8


def sniff(path: Path) -> str:
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(HEAD)
    if not head:
        return "empty"
    if _is_safetensors(path, head, size):                         # 1. proved by structure
        return "safetensors"
    flatbuffer = _flatbuffer_kind(head, size)                     # 2. identifier + root offset
    if flatbuffer:
        return flatbuffer
    for magic, kind in MAGIC:                                     # 3. magic numbers
        if head.startswith(magic):
            return _zip_kind(path) if kind == "zip" else kind
    if _is_pickle(head):
        return "pickle"
    if len(head) > 8 and head[8:9] == b"{" and 2 <= int.from_bytes(head[:8], "little") <= MAX_SAFETENSORS_HEADER:
        return "safetensors"                                      # 4. a damaged one: its loader says how
    if _is_json(path, head, size):                                # 5. text-like kinds
        return "json"
    if _looks_like_onnx(head):
        return "onnx"
    if _is_utf8(head, complete=size <= HEAD):
        return "text"
    return "unknown"


def _is_safetensors(path: Path, head: bytes, size: int) -> bool:
    """u64 little-endian header length N, N bytes of JSON object (trailing spaces allowed), then
    the data: every tensor's [begin, end) inside it and the furthest end its last byte, as the
    safetensors loader itself requires (a shorter buffer is MetadataIncompleteBuffer)."""
    if len(head) < 10 or head[8:9] != b"{":
        return False
    n = int.from_bytes(head[:8], "little")
    if not 2 <= n <= min(size - 8, MAX_SAFETENSORS_HEADER):
        return False
    with open(path, "rb") as f:
        f.seek(8)
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    if not isinstance(header, dict):
        return False
    data, furthest = size - 8 - n, 0
    for name, entry in header.items():
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                return False
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("dtype"), str):
            return False
        shape, offsets = entry.get("shape"), entry.get("data_offsets")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            return False
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(type(o) is int for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= data):
            return False
        furthest = max(furthest, offsets[1])
    return furthest == data


def _flatbuffer_kind(head: bytes, size: int) -> str | None:
    """A flatbuffer's file identifier sits at bytes 4..8, after the u32 offset of its root table,
    which must point inside the file past the identifier: text or a pickle that happens to hold
    'TFL3' at byte 4 does not also hold such an offset."""
    kind = {b"TFL3": "tflite", b"ORTM": "ort"}.get(head[4:8])
    return kind if kind and 8 <= int.from_bytes(head[:4], "little") < size else None


def _is_pickle(head: bytes) -> bool:
    """PROTO (0x80) with a protocol of 2..5, then the next opcode (or nothing: a truncated pickle)."""
    return (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")
            and (len(head) == 2 or head[2] in PICKLE_OPCODES))


def _is_json(path: Path, head: bytes, size: int) -> bool:
    """Starts with { or [ (after a BOM and whitespace) and parses: a CSV whose first column is
    named "[time]" starts the same way and is text."""
    if head.removeprefix(BOM).lstrip()[:1] not in (b"{", b"["):
        return False
    if size > JSON_PARSE_LIMIT:
        return True
    try:
        json.loads(path.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    return True


def _zip_kind(path: Path) -> str:
    """torch.save writes a zip holding data.pkl; an npz holds .npy members."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return "zip"
    return "torch-zip" if any(n.endswith((".pkl", "/data.pkl")) for n in names) else "zip"


def _looks_like_onnx(head: bytes) -> bool:
    """Protobuf writes fields in number order and ONNX requires ir_version (field 1, a small
    varint), so a ModelProto starts 0x08 then a version byte; no text file starts that way."""
    return len(head) >= 2 and head[0] == 0x08 and 0 < head[1] < 0x40


def _is_utf8(head: bytes, complete: bool) -> bool:
    """UTF-8 (a BOM included); the 64-byte read may cut a multi-byte character in two, which
    only the end of the file makes an error (a CSV named "température" was once "unknown")."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=complete)
        return True
    except UnicodeDecodeError:
        return False


def expect(path: Path, kind: str) -> None:
    """Refuse `path` unless it looks like `kind`; a pickle is refused as a security matter (exit 4)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such file")
    got = sniff(path)
    if got == kind:
        return
    if got in ("pickle", "torch-zip"):
        raise SecurityRefusal(f"{path}: this is {DESCRIPTION[got]}, not {DESCRIPTION[kind]}; "
                              "lstm-edge never unpickles", hint="export the model, or save weights with safetensors")
    raise InvalidInputError(f"{path}: this is {DESCRIPTION[got]}, not {DESCRIPTION[kind]}",
                            hint=f"pass {DESCRIPTION[kind]} (checked by its first bytes, not its name)")


def read_npz(path: Path) -> dict:
    """Every array of an .npz, pickles refused; any corruption (bad zip, CRC, truncated member,
    a non-array inside) is exit 3 naming the file — found by the fuzz loop as BadZipFile."""
    import zipfile
    import zlib

    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such file")
    kind = sniff(path)
    if kind != "zip":
        if kind in ("pickle", "torch-zip"):
            raise SecurityRefusal(f"{path}: this is {DESCRIPTION[kind]}, not an npz; lstm-edge never unpickles")
        raise InvalidInputError(f"{path}: this is {DESCRIPTION[kind]}, not an npz of arrays")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, KeyError, SyntaxError, NotImplementedError, zipfile.BadZipFile,
            zlib.error, Exception) as e:   # numpy's header parser and zipfile raise many types (fuzz: TokenError, …)
        raise InvalidInputError(f"{path}: a corrupt npz ({type(e).__name__}: {str(e)[:120]})",
                                hint="copy or regenerate the file")
