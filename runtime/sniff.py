"""What a file is, by its first bytes — before any parser or native runtime sees it.

A `.pt` renamed `.onnx`, an empty download, an HTML error page saved as a model: each is named
for what it is ("this is a PyTorch zip checkpoint, not an ONNX model"), instead of surfacing
as a runtime's parse error or, worse, a crash.

    kind = sniff(path)        # "tflite", "ort", "onnx", "safetensors", "zip", "torch-zip", "pickle",
                              # "npy", "gzip", "png", "json", "text", "empty", "unknown"
    expect(path, "onnx")      # raises InvalidInputError (or SecurityRefusal for a pickle)
"""
from __future__ import annotations

from pathlib import Path

from lstm_edge.errors import InvalidInputError, SecurityRefusal

DESCRIPTION = {
    "tflite": "a TFLite flatbuffer model", "ort": "an onnxruntime ORT-format model", "onnx": "an ONNX model",
    "safetensors": "a safetensors file", "zip": "a zip archive (a PyTorch checkpoint, or an npz)",
    "pickle": "a Python pickle (a PyTorch .pt/.pth checkpoint)",
    "torch-zip": "a PyTorch zip checkpoint (torch.save: a pickle inside)", "png": "a PNG image", "npy": "a numpy .npy array", "gzip": "a gzip archive",
    "json": "a JSON document", "text": "a text file", "empty": "an empty file", "unknown": "not a format lstm-edge knows",
}
SUFFIX_KIND = {".onnx": "onnx", ".ort": "ort", ".tflite": "tflite", ".safetensors": "safetensors", ".npz": "zip"}


def sniff(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(64)
    if not head:
        return "empty"
    if head[4:8] == b"TFL3":
        return "tflite"
    if head[4:8] == b"ORTM":
        return "ort"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _zip_kind(path)
    if head.startswith(b"\x89PNG"):
        return "png"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "pickle"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < (1 << 30):
        return "safetensors"                    # u64 header length, then the JSON header
    stripped = head.lstrip()
    if stripped[:1] in (b"{", b"["):
        return "json"
    if _looks_like_onnx(head):
        return "onnx"
    try:
        head.decode("utf-8")
        return "text"
    except UnicodeDecodeError:
        return "unknown"


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
