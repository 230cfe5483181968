"""The CLI through typer's CliRunner: help, verify's exit codes, export, bad inputs."""
import json
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from conftest import FP32_STAGES, QUANT_BUDGETS
from lstm_edge.cli import app

runner = CliRunner()


def test_help_lists_commands_and_is_fast():
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0
    for cmd in ("train", "export", "verify", "pipeline"):
        assert cmd in r.output
    # --help must not import torch or tensorflow (they take seconds to load)
    code = "import sys; from lstm_edge.cli import app; print(any(m in sys.modules for m in ('torch', 'tensorflow')))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_verify_passes_and_writes_the_report(tiny_run, tmp_path):
    """The checkpoint and its fp32 artefacts (quantized stages have their own tests: a tiny
    model's int8 stages may honestly fail)."""
    out, _ = tiny_run
    work = tmp_path / "run"
    shutil.copytree(out, work)
    for sidecar in [*work.glob("*.onnx.json"), *work.glob("*.tflite.json")]:
        if json.loads(sidecar.read_text()).get("recipe"):
            sidecar.unlink()
            sidecar.with_suffix("").unlink()
    (work / "refusals.json").unlink(missing_ok=True)
    r = runner.invoke(app, ["verify", str(work)])
    assert r.exit_code == 0, r.output
    assert "verdict: PASS" in r.output and "onnx-fp32" in r.output
    report = json.loads((work / "report.json").read_text())
    assert report["passed"] is True
    for s in report["stages"]:
        for key in ("name", "parent", "format", "precision", "artifact", "size_bytes", "max_abs", "max_rel",
                    "budget", "metrics", "passed"):
            assert key in s, (s["name"], key)
    assert "| onnx-fp32 | pytorch | y |" in (work / "report.md").read_text()


def test_verify_exits_1_on_a_budget_miss(tiny_run, tmp_path):
    out, _ = tiny_run
    work = tmp_path / "run"
    shutil.copytree(out, work)
    meta = json.loads((work / "model.json").read_text())
    for t in meta["spec"]["tolerance"]:
        if t["child"] == "tflite-fp32":
            t["atol"], t["rtol"] = 1e-12, 0.0           # an impossible budget, to see the gate close
    (work / "model.json").write_text(json.dumps(meta))
    r = runner.invoke(app, ["verify", str(work)])
    assert r.exit_code == 1
    assert "tflite-fp32 vs pytorch, output" in r.output and "worst element" in r.output


def test_verify_refuses_a_tampered_artefact(tiny_run, tmp_path):
    out, _ = tiny_run
    work = tmp_path / "run"
    shutil.copytree(out, work)
    blob = bytearray((work / "tflite-fp32.tflite").read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (work / "tflite-fp32.tflite").write_bytes(bytes(blob))
    r = runner.invoke(app, ["verify", str(work)])
    assert r.exit_code == 3
    assert "tflite-fp32.tflite" in r.output and "sha256" in r.output


def test_verify_on_a_directory_without_checkpoint(tmp_path):
    r = runner.invoke(app, ["verify", str(tmp_path)])
    assert r.exit_code == 3 and "holds no checkpoint" in r.output


def test_export_onnx_only_rewrites_a_checked_artefact(tiny_run, tmp_path):
    out, _ = tiny_run
    work = tmp_path / "run"
    shutil.copytree(out, work)
    before = (work / "onnx-fp32.onnx").read_bytes()
    r = runner.invoke(app, ["export", str(work), "--format", "onnx"])
    assert r.exit_code == 0, r.output
    assert "self-check passed" in r.output
    assert (work / "onnx-fp32.onnx").read_bytes() == before      # the ONNX export is deterministic


def test_bad_spec_key_is_exit_3(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text('name = "x"\n[model]\nhidden_sise = 8\n')
    r = runner.invoke(app, ["train", "--model", str(spec), "--out", str(tmp_path / "o")])
    assert r.exit_code == 3 and "hidden_sise" in r.output


@pytest.mark.slow   # trains
def test_train_on_a_csv(tmp_path):
    """A user's CSV: train names its columns; a bad cell names its line."""
    import numpy as np

    t = np.arange(600)
    rng = np.random.default_rng(0)
    rows = ["time,temp,power"] + [f"{i},{20 + 3 * np.sin(2 * np.pi * i / 24) + rng.normal(0, .3):.4f},"
                                  f"{5 + np.cos(2 * np.pi * i / 24) + rng.normal(0, .2):.4f}" for i in t]
    csv = tmp_path / "series.csv"
    csv.write_text("\n".join(rows) + "\n")
    spec = tmp_path / "spec.toml"
    spec.write_text('name = "mine"\n[model]\nhidden_size = 8\nnum_layers = 1\n[train]\nmax_epochs = 2\n'
                    'warmup_steps = 6\n[data]\nwindow = 30\n')
    r = runner.invoke(app, ["train", "--model", str(spec), "--data", str(csv), "--target", "power",
                            "--time-column", "time", "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    meta = json.loads((tmp_path / "out" / "model.json").read_text())
    assert meta["features"] == ["temp", "power"] and meta["targets"] == ["power"]
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(rows[:5] + ["5,oops,1.0"] + rows[6:]) + "\n")
    r = runner.invoke(app, ["train", "--model", str(spec), "--data", str(bad), "--target", "power",
                            "--out", str(tmp_path / "out2")])
    assert r.exit_code == 3 and "temp" in r.output and "oops" in r.output
    assert not (tmp_path / "out2").exists()


@pytest.mark.slow   # trains, converts with TensorFlow, quantizes, bundles: twice
def test_pipeline_end_to_end_through_the_cli(tmp_path):
    """The small end-to-end run: a tiny spec file, the real command, its report; a second run replaces it."""
    spec = tmp_path / "tiny.toml"
    spec.write_text("""
name = "tiny-cli"
[data]
days = 21
window = 30
[model]
hidden_size = 8
[train]
max_epochs = 3
warmup_steps = 6
[parity]
batch_sizes = [1, 3]
lengths = [1, 64]
""" + "".join(f'[[tolerance]]\nparent = "pytorch"\nchild = "{c}"\natol = 1e-5\nrtol = 1e-5\n'
              for c in FP32_STAGES)
      + "".join("[[tolerance]]\n" + "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in t.items())
                for t in QUANT_BUDGETS))
    out = tmp_path / "out"
    r = runner.invoke(app, ["pipeline", "--model", str(spec), "--out", str(out)])
    report = json.loads((out / "report.json").read_text())
    # fp32 stages must pass; a 3-epoch model's quantized stages may honestly fail (measured: its
    # int8-static QDQ drifts to |Δy| 0.6 by step 100 on inputs outside the calibrated range),
    # and then the exit code is 1 and every failure names a quantized stage.
    fp32 = [s for s in report["stages"] if not s["recipe"]]
    assert all(s["passed"] for s in fp32), report["failures"]
    assert r.exit_code == (0 if report["passed"] else 1), r.output
    recipes = {s["name"] for s in report["stages"] if s["recipe"]}
    assert all(line.split()[0] in recipes for line in report["failures"]), report["failures"]
    from lstm_edge.converters.recipes import RECIPES

    names = [s["name"] for s in report["stages"]]
    assert names[:6] == ["pytorch", "numpy-reference", "onnx-fp32", "tflite-fp32", "tflite-seq-fp32", "tflite-step-fp32"]
    assert sorted(names[6:] + [x["recipe"] for x in report["refusals"]]) == sorted(RECIPES)   # every recipe, one way or the other
    assert "parity against the parent stage" in r.output and "quantization:" in r.output
    files = {p.name for p in out.iterdir()}
    assert {"model.json", "model.safetensors", "test_set.npz", "val_set.npz", "calibration.npz",
            "report.json", "report.md", "forecast.png"} <= files
    for stage in names[2:]:
        artifact = next(f for f in files if f.startswith(stage + ".") and not f.endswith(".json"))
        assert f"{artifact}.json" in files
    bundled = {a["stage"] for a in json.loads((out / "bundle" / "manifest.json").read_text())["artifacts"]}
    passed = {s["name"] for s in report["stages"][2:] if s["passed"]}   # every stage that passed, and its .ort twin
    assert bundled == passed | {f"{n}-ort" for n in passed if n.startswith("onnx-")}
    assert "python -m lstm_edge.runtime verify bundle" in r.output
    (out / "stale-file").write_text("from the previous run")
    r = runner.invoke(app, ["pipeline", "--model", str(spec), "--out", str(out)])
    assert not (out / "stale-file").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]   # no staging debris


# ---------------------------------------------------------------------------------------------
# lstm_edge.cli

cli = CliRunner()
COMMANDS = {"train", "export", "verify", "pipeline", "stream", "sample", "bundle", "bench", "probe-gates"}


def test_every_command_answers_help():
    from lstm_edge.cli import app

    names = {c.name for c in app.registered_commands}
    assert COMMANDS <= names, COMMANDS - names
    for name in sorted(names):
        r = cli.invoke(app, [name, "--help"])
        assert r.exit_code == 0, (name, r.output)
        assert "Usage:" in r.output and f" {name} " in r.output, (name, r.output)


def test_usage_errors_exit_2_and_say_what_goes_together(tmp_path):
    from lstm_edge.cli import app

    r = cli.invoke(app, ["export", str(tmp_path / "out"), "--module", "net.py:Net"])
    assert r.exit_code == 2 and "go together" in r.output, r.output
    r = cli.invoke(app, ["export", str(tmp_path / "out"), "--module", "net.py:Net", "--weights", "w.safetensors",
                         "--example-shape", "2,x,4"])
    assert r.exit_code == 2 and "expected integers" in r.output, r.output
    r = cli.invoke(app, ["verify", str(tmp_path), "--no-such-flag"])
    assert r.exit_code == 2
    r = cli.invoke(app, ["export", str(tmp_path), "--format", "keras"])
    assert r.exit_code == 2 and "keras" in r.output
    assert not (tmp_path / "out").exists()
