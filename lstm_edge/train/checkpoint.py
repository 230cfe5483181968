"""The trained model on disk: safetensors weights + a JSON of everything needed to use them.

    DIR/model.safetensors   tensors of SequenceLSTM (never a pickle)
    DIR/model.json          spec, resolved dims, feature/target names, normalization,
                            training and test metrics, sha256 of the weights and test set
    DIR/test_set.npz        the test windows and their truth / baselines (metrics.test_set)
    DIR/calibration.npz     training windows for quantization calibration (x only)
    DIR/val_set.npz         validation windows with truth: quantization attempts are chosen on these

Loading checks the hash, then the tensor names and shapes against the dims, before any
number is used.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from lstm_edge.files import read_json, sha256_file, write_bytes_atomic, write_json_atomic
from lstm_edge.errors import InvalidInputError, SecurityRefusal

WEIGHTS = "model.safetensors"
META = "model.json"
TEST_SET = "test_set.npz"
CALIBRATION = "calibration.npz"
VAL_SET = "val_set.npz"


def expected_shapes(dims: dict) -> dict[str, tuple[int, ...]]:
    F, H, L, O = dims["input_size"], dims["hidden_size"], dims["num_layers"], dims["output_size"]
    shapes = {"head.weight": (O, H), "head.bias": (O,)}
    if dims.get("vocab_size"):                    # token input: the LSTM reads embeddings of width E
        F = dims["embedding_dim"]
        shapes["embedding.weight"] = (dims["vocab_size"], F)
    for k in range(L):
        fin = F if k == 0 else H
        shapes |= {f"lstm.weight_ih_l{k}": (4 * H, fin), f"lstm.weight_hh_l{k}": (4 * H, H),
                   f"lstm.bias_ih_l{k}": (4 * H,), f"lstm.bias_hh_l{k}": (4 * H,)}
    return shapes


def save_checkpoint(out_dir: Path, tensors: dict[str, np.ndarray], meta: dict, test: dict,
                    calibration: dict, val: dict) -> None:
    from safetensors.numpy import save

    blob = save({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()})
    write_bytes_atomic(out_dir / WEIGHTS, blob)
    hashes = {}
    for name, arrays in ((TEST_SET, test), (CALIBRATION, calibration), (VAL_SET, val)):
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        write_bytes_atomic(out_dir / name, buf.getvalue())
        hashes[f"{name.split('.')[0]}_sha256"] = sha256_file(out_dir / name)
    write_json_atomic(out_dir / META, meta | hashes | {
        "weights": WEIGHTS, "weights_sha256": sha256_file(out_dir / WEIGHTS),
        "test_set": TEST_SET, "calibration": CALIBRATION})


def load_test_set(ckpt_dir: Path, meta: dict) -> dict[str, np.ndarray]:
    return _load_npz(Path(ckpt_dir) / TEST_SET, meta.get("test_set_sha256"))


def load_val_set(ckpt_dir: Path, meta: dict) -> dict[str, np.ndarray]:
    return _load_npz(Path(ckpt_dir) / VAL_SET, meta.get("val_set_sha256"))


def load_calibration(ckpt_dir: Path, meta: dict) -> np.ndarray:
    """(N, T, F) normalized training windows, the quantizers' calibration data."""
    return _load_npz(Path(ckpt_dir) / CALIBRATION, meta.get("calibration_sha256"))["x"]


def _load_npz(path: Path, want_sha: str | None) -> dict[str, np.ndarray]:
    if not path.exists():
        raise InvalidInputError(f"{path} is missing: it is written by training", hint="re-run lstm-edge train")
    if sha256_file(path) != want_sha:
        raise InvalidInputError(f"{path}: sha256 does not match {META}: the file is corrupt or from another model",
                                hint="re-run lstm-edge train")
    from lstm_edge.runtime.sniff import read_npz

    return read_npz(path)


def load_checkpoint(ckpt_dir: Path) -> tuple[dict[str, np.ndarray], dict]:
    """→ (tensors as float32 numpy arrays, meta). Refuses pickles, checks hash and shapes."""
    from safetensors import SafetensorError

    from lstm_edge.runtime.sniff import expect
    from safetensors.numpy import load_file

    ckpt_dir = Path(ckpt_dir)
    for pickled in list(ckpt_dir.glob("*.pt")) + list(ckpt_dir.glob("*.pth")) + list(ckpt_dir.glob("*.ckpt")):
        if not (ckpt_dir / WEIGHTS).exists():
            raise SecurityRefusal(f"{pickled} is a pickle-based checkpoint; lstm-edge never unpickles",
                                  hint="save the weights with safetensors (safetensors.torch.save_file)")
    meta_path, weights_path = ckpt_dir / META, ckpt_dir / WEIGHTS
    if not meta_path.exists() or not weights_path.exists():
        raise InvalidInputError(f"{ckpt_dir} holds no checkpoint ({META} + {WEIGHTS})",
                                hint="train one first: lstm-edge train --model models/sensor.toml --out DIR")
    expect(weights_path, "safetensors")       # a pickle or torch zip under this name: exit 4, never opened
    meta = read_json(meta_path)
    actual = sha256_file(weights_path)
    if actual != meta.get("weights_sha256"):
        raise InvalidInputError(f"{weights_path}: sha256 {actual[:16]}… does not match {META} "
                                f"({str(meta.get('weights_sha256'))[:16]}…): the file is corrupt or was replaced",
                                hint="re-run lstm-edge train")
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as e:
        raise InvalidInputError(f"{weights_path}: not a readable safetensors file ({e})")
    want = expected_shapes(meta["dims"])
    problems = [f"missing tensor {k}" for k in want if k not in tensors]
    problems += [f"unexpected tensor {k}" for k in tensors if k not in want]
    problems += [f"tensor {k}: shape {tuple(tensors[k].shape)}, expected {want[k]}"
                 for k in want if k in tensors and tuple(tensors[k].shape) != want[k]]
    problems += [f"tensor {k}: dtype {tensors[k].dtype}, expected float32"
                 for k in tensors if tensors[k].dtype != np.float32]
    if problems:
        raise InvalidInputError(f"{weights_path} does not match its spec: " + "; ".join(problems))
    return tensors, meta


def dump_meta(meta: dict) -> str:
    return json.dumps(meta, indent=2, sort_keys=True)
