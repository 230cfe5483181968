"""The bad-input suite: one malformed thing at a time, through the real commands.

Each case asserts the exit code, that the message names the problem (file, key, column, line,
input, dimension), and that the directory the command was pointed at is byte-identical
afterwards with no staging or temporary debris.
"""
from __future__ import annotations

import hashlib
import json
import pickle
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from lstm_edge.cli import app
from lstm_edge.runtime.__main__ import main as harness

pytestmark = pytest.mark.slow   # every case works on a copy of the trained tiny run

CSV_HEADER = "time,temperature,humidity\n"


def csv_rows(n: int, *, constant=False) -> str:
    return "".join(f"{t},{15 + (0 if constant else t % 7 * 0.5)},{60 + t % 5}\n" for t in range(n))


def spec_text(**model) -> str:
    body = "\n".join(f"{k} = {v}" for k, v in model.items())
    return f'name = "bad"\n[data]\nwindow = 8\n[model]\n{body}\n'


def make_cases():
    """(id, setup(work) → argv, expected exit, message fragment). `work` is a copy of the tiny run;
    argv[0] == "device" runs the on-device harness instead of lstm-edge."""
    cases = []

    def case(cid, code, message):
        def deco(fn):
            cases.append(pytest.param(fn, code, message, id=cid))
            return fn
        return deco

    # --- model specs -------------------------------------------------------------------------
    @case("spec-unknown-key", 3, "hidden_sise")
    def _(w):
        (w / "s.toml").write_text(spec_text(hidden_sise=8))
        return ["train", "--model", str(w / "s.toml"), "--out", str(w / "o")]

    @case("spec-wrong-type", 3, "hidden_size")
    def _(w):
        (w / "s.toml").write_text(spec_text(hidden_size='"big"'))
        return ["train", "--model", str(w / "s.toml"), "--out", str(w / "o")]

    @case("spec-impossible-size", 3, "hidden_size")
    def _(w):
        (w / "s.toml").write_text(spec_text(hidden_size=0))
        return ["train", "--model", str(w / "s.toml"), "--out", str(w / "o")]

    @case("spec-not-toml", 3, "not valid TOML")
    def _(w):
        (w / "s.toml").write_text("name = [unclosed\n")
        return ["train", "--model", str(w / "s.toml"), "--out", str(w / "o")]

    @case("spec-missing", 3, "does not exist")
    def _(w):
        return ["train", "--model", str(w / "nope.toml"), "--out", str(w / "o")]

    # --- CSV data ----------------------------------------------------------------------------
    def train_on(w, text, target="temperature"):
        (w / "d.csv").write_text(text)
        return ["train", "--data", str(w / "d.csv"), "--target", target, "--time-column", "time", "--out", str(w / "o")]

    @case("csv-missing-column", 3, "'power'")
    def _(w):
        return train_on(w, CSV_HEADER + csv_rows(400), target="power")

    @case("csv-non-numeric", 3, "line 7, column 'humidity'")
    def _(w):
        rows = csv_rows(400).splitlines()
        rows[5] = "5,15.0,wet"
        return train_on(w, CSV_HEADER + "\n".join(rows) + "\n")

    @case("csv-too-few-rows", 3, "needed for one window")
    def _(w):
        return train_on(w, CSV_HEADER + csv_rows(5))

    @case("csv-constant-column", 3, "constant")
    def _(w):
        return train_on(w, CSV_HEADER + csv_rows(400, constant=True))

    @case("csv-timestamps-go-back", 3, "does not increase")
    def _(w):
        rows = csv_rows(400).splitlines()
        rows[10] = "3" + rows[10][rows[10].index(","):]
        return train_on(w, CSV_HEADER + "\n".join(rows) + "\n")

    @case("csv-empty", 3, "empty")
    def _(w):
        return train_on(w, "")

    @case("csv-is-binary", 3, "not a CSV")
    def _(w):
        (w / "d.csv").write_bytes((w / "onnx-fp32.onnx").read_bytes())
        return ["train", "--data", str(w / "d.csv"), "--target", "temperature", "--out", str(w / "o")]

    # --- checkpoints and artefacts ----------------------------------------------------------
    @case("export-no-checkpoint", 3, "holds no checkpoint")
    def _(w):
        (w / "empty").mkdir()
        return ["export", str(w / "empty"), "--format", "onnx"]

    @case("export-pickle-weights", 4, "never unpickles")
    def _(w):
        (w / "model.safetensors").write_bytes(pickle.dumps({"w": [1.0]}))
        return ["export", str(w), "--format", "onnx"]

    @case("export-tampered-weights", 3, "sha256")
    def _(w):
        data = bytearray((w / "model.safetensors").read_bytes())
        data[-5] ^= 1
        (w / "model.safetensors").write_bytes(bytes(data))
        return ["export", str(w), "--format", "onnx"]

    @case("export-tensor-missing", 3, "missing tensor head.bias")
    def _(w):
        from safetensors.numpy import load_file, save_file

        t = load_file(str(w / "model.safetensors"))
        t.pop("head.bias")
        save_file(t, str(w / "model.safetensors"))
        meta = json.loads((w / "model.json").read_text())
        meta["weights_sha256"] = hashlib.sha256((w / "model.safetensors").read_bytes()).hexdigest()
        (w / "model.json").write_text(json.dumps(meta))
        return ["export", str(w), "--format", "onnx"]

    @case("export-unknown-format", 2, "tflight")
    def _(w):
        return ["export", str(w), "--format", "tflight"]

    @case("export-unknown-recipe", 2, "onnx-int4")
    def _(w):
        return ["export", str(w), "--only-quantize", "--quantize", "onnx-int4"]

    @case("verify-flipped-artefact", 3, "tflite-fp32.tflite")
    def _(w):
        data = bytearray((w / "tflite-fp32.tflite").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (w / "tflite-fp32.tflite").write_bytes(bytes(data))
        return ["verify", str(w)]

    @case("verify-missing-dir", 3, "holds no checkpoint")
    def _(w):
        return ["verify", str(w / "nowhere")]

    # --- streaming ---------------------------------------------------------------------------
    @case("stream-missing-column", 3, "vibration")
    def _(w):
        (w / "live.csv").write_text("temperature,humidity,load\n1,2,3\n")
        return ["stream", str(w), "--input", str(w / "live.csv")]

    @case("stream-no-cell-state", 3, "cell state")
    def _(w):
        (w / "live.csv").write_text("temperature,humidity,load,vibration\n1,2,3,4\n")
        return ["stream", str(w), "--input", str(w / "live.csv"), "--artifact", "tflite-fp32.tflite"]

    @case("stream-nan", 3, "line 3")
    def _(w):
        (w / "live.csv").write_text("temperature,humidity,load,vibration\n1,2,3,4\n1,nan,3,4\n")
        return ["stream", str(w), "--input", str(w / "live.csv")]

    # --- bundles -----------------------------------------------------------------------------
    @case("bundle-unverified-dir", 2, "report.json")
    def _(w):
        (w / "report.json").unlink()
        return ["bundle", str(w), "--out", str(w / "b")]

    @case("bundle-unknown-artefact", 2, "onnx-fp64")
    def _(w):
        return ["bundle", str(w), "--out", str(w / "b"), "--artifact", "onnx-fp64"]

    @case("device-verify-not-a-bundle", 3, "not an lstm-edge bundle")
    def _(w):
        return ["device", "verify", str(w)]

    # --- runtime inputs (the device harness) ------------------------------------------------
    def run_npz(w, **arrays):
        np.savez(w / "in.npz", **arrays)
        return ["device", "run", str(w / "bundle"), "--input", str(w / "in.npz"), "--artifact", "onnx-fp32.onnx"]

    x = np.zeros((2, 5, 4), np.float32)

    @case("input-wrong-dtype", 3, "dtype float64")
    def _(w):
        return run_npz(w, x=x.astype(np.float64))

    @case("input-wrong-feature-dim", 3, "dimension 2 is 3")
    def _(w):
        return run_npz(w, x=x[:, :, :3])

    @case("input-wrong-rank", 3, "has shape (5, 4), expected (B, T, F)")
    def _(w):
        return run_npz(w, x=x[0])

    @case("input-state-batch", 3, "state 'h0' has batch 3")
    def _(w):
        return run_npz(w, x=x, h0=np.zeros((2, 3, 8), np.float32), c0=np.zeros((2, 3, 8), np.float32))

    @case("input-t-zero", 3, "empty")
    def _(w):
        return run_npz(w, x=x[:, :0])

    @case("input-nan", 3, "non-finite value nan at index (1, 2, 3)")
    def _(w):
        bad = x.copy()
        bad[1, 2, 3] = np.nan
        return run_npz(w, x=bad)

    @case("input-missing-x", 3, "no array 'x'")
    def _(w):
        return run_npz(w, y=x)

    @case("input-extra-name", 3, "unexpected")
    def _(w):
        np.savez(w / "in.npz", x=x)
        from lstm_edge.runtime import open_runner

        open_runner(w / "bundle" / "onnx-fp32.onnx").run({"x": x, "h0": np.zeros((2, 2, 8), np.float32),
                                                          "c0": np.zeros((2, 2, 8), np.float32), "bias": x})
        return []

    @case("input-file-missing", 3, "no such file")
    def _(w):
        return ["device", "run", str(w / "bundle"), "--input", str(w / "nothing.npz")]

    @case("compare-not-bench-json", 3, "not a bench result")
    def _(w):
        (w / "x.json").write_text('{"schema": "other"}')
        return ["device", "compare", str(w / "x.json")]

    return cases


def snapshot(d):
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("setup,code,message", make_cases())
def test_bad_input(tiny_run, tmp_path, capsys, setup, code, message):
    out, _ = tiny_run
    work = tmp_path / "work"
    shutil.copytree(out, work)
    try:
        argv = setup(work)
    except Exception as e:   # a case checked in the setup itself (a library call)
        from lstm_edge.errors import LstmEdgeError

        assert isinstance(e, LstmEdgeError) and e.exit_code == code and message in str(e), e
        return
    before = snapshot(work)
    if argv[0] == "device":
        got = harness(argv[1:])
        text = capsys.readouterr().err
    else:
        r = CliRunner().invoke(app, argv)
        got, text = r.exit_code, r.output
    assert got == code, text[-800:]
    assert message in text, text[-800:]
    assert "Traceback" not in text
    assert snapshot(work) == before                                   # nothing written, nothing half-written
    assert not [p for p in tmp_path.rglob(".*") if "staging" in p.name or p.name.endswith(".tmp")]
