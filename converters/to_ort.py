"""ONNX → ORT format (`.ort`) for onnxruntime mobile / minimal builds, plus the
required-operators config such a build is compiled with (`--include_ops_by_config`).

Mirrors onnxruntime.tools.convert_onnx_models_to_ort with the 'Fixed' optimization style:
a session at ORT_ENABLE_ALL saves its optimized graph in ORT format. The NCHWc transformer
is excluded (as the tool does for non-x86 targets), so the file runs on ARM boards too.
The config lists the ops of every .ort in the bundle, with file names only (the tool
writes absolute paths into its comments, which would leak the host's directories).
"""
from __future__ import annotations

import os
from pathlib import Path

from lstm_edge.errors import ConversionError

CONFIG = "required_operators.config"


def to_ort(onnx_path: Path, out_path: Path) -> Path:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.optimized_model_filepath = str(out_path)
    so.add_session_config_entry("session.save_model_format", "ORT")
    so.add_session_config_entry("session.qdqisint8allowed", "0")   # keep QDQ portable (the tool's non-ARM default)
    so.log_severity_level = 3
    try:
        ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"],
                             disabled_optimizers=["NchwcTransformer"])
    except Exception as e:  # onnxruntime raises its own exception types, and a full disk reads like any other
        _can_write(out_path, 2 * onnx_path.stat().st_size + (64 << 10))   # an .ort is larger than its .onnx
        raise ConversionError(str(out_path), [f"onnxruntime could not save {onnx_path.name} in ORT format: {e}"])
    if not out_path.exists() or out_path.read_bytes()[4:8] != b"ORTM":
        raise ConversionError(str(out_path), ["no ORT-format file was written (expected the 'ORTM' identifier)"])
    return out_path


def _can_write(path: Path, size: int) -> None:
    """Raise the environment's own error (disk full, read-only: exit 5) if `size` bytes cannot be written at `path`."""
    from lstm_edge.errors import from_os_error

    try:
        with open(path, "wb") as f:
            f.write(b"\0" * size)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise from_os_error(e)
    finally:
        path.unlink(missing_ok=True)


def required_operators(ort_paths: list[Path], config_path: Path) -> list[str]:
    """Write the config for a minimal build; → its op lines ('domain;opset;Op,Op')."""
    import contextlib
    import io
    import logging

    from onnxruntime.tools.ort_format_model import create_config_from_models

    logging.getLogger("ort_format_model.utils").setLevel(logging.WARNING)
    with contextlib.redirect_stdout(io.StringIO()):
        create_config_from_models(list(ort_paths), config_path, False)
    lines = config_path.read_text().splitlines()
    ops = [ln for ln in lines if ln and not ln.startswith("#")]
    header = ["# Operators a minimal onnxruntime build needs for the .ort files of this bundle:",
              *[f"# - {p.name}" for p in ort_paths],
              "# Build with: ./build.sh --minimal_build --include_ops_by_config required_operators.config"]
    config_path.write_text("\n".join(header + ops) + "\n")
    return ops
