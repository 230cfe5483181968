"""The device bundle and the on-device harness (`python -m lstm_edge.runtime`).

The tiny pipeline run ends with OUT/bundle; every test works on a copy of it, in another
directory, the way a user copies a bundle to a board.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import textwrap

import numpy as np
import pytest

from lstm_edge.runtime.__main__ import main as harness
from lstm_edge.runtime.harness.bundle_files import MANIFEST, manifest_digest, sha256_file
from test_runtime_boundary import BLOCKER

pytestmark = pytest.mark.slow   # every test works on a copy of the trained tiny run


@pytest.fixture
def copied(tiny_run, tmp_path):
    out, _ = tiny_run
    dst = tmp_path / "elsewhere" / "board-bundle"
    shutil.copytree(out / "bundle", dst)
    return dst


def run_device(args: list[str], cwd, extra_block: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """The harness in a subprocess where torch, tensorflow, onnx (… and `extra_block`) cannot be imported."""
    blocker = BLOCKER if not extra_block else BLOCKER.replace(
        "if name.split(\".\")[0] in", f"if name.split('.')[0] in {extra_block!r} or name.split(\".\")[0] in")
    code = blocker + textwrap.dedent(f"""
        import runpy
        sys.argv = ["lstm_edge.runtime"] + {args!r}
        runpy.run_module("lstm_edge.runtime", run_name="__main__")
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=600)


def rewrite_manifest(bundle, change) -> None:
    """Edit the manifest as an attacker or a careless tool would — consistently (hashes updated)."""
    m = json.loads((bundle / MANIFEST).read_text())
    change(m)
    for name in m["files"]:
        m["files"][name] = {"sha256": sha256_file(bundle / name), "size_bytes": (bundle / name).stat().st_size}
    m["content_sha256"] = manifest_digest(m)
    (bundle / MANIFEST).write_text(json.dumps(m))


def test_copied_bundle_verifies_without_heavy_libraries(copied):
    r = run_device(["verify", copied.name], cwd=copied.parent)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verdict: PASS" in r.stdout
    m = json.loads((copied / MANIFEST).read_text())
    for a in m["artifacts"]:                    # every artefact ran and passed, .ort twins included
        assert any(line.startswith(a["file"] + " ") and line.rstrip().endswith("pass") for line in r.stdout.splitlines()), a["file"]
    assert {a["format"] for a in m["artifacts"]} >= {"onnx", "ort", "tflite"}


def test_manifest_records_what_the_device_needs(copied):
    m = json.loads((copied / MANIFEST).read_text())
    assert m["model"]["weights_sha256"] and m["model"]["normalization"]["mean"]
    assert {"onnxruntime", "ai-edge-litert", "torch", "tensorflow", "numpy"} <= set(m["versions"])
    for a in m["artifacts"]:
        assert not a["file"].startswith("/") and "/" not in a["file"]
        assert a["budget"], a["file"]                       # every artefact carries its budget
        assert a["runtime_settings"]["call"] and ("step" in a["runtime_settings"]) == a["streaming"]
        if a["format"] in ("onnx", "ort"):
            assert a["opset"]["ai.onnx"] >= 17
        if a["format"] == "tflite":
            assert a["ops"]["all_builtin"] and not a["ops"]["flex_ops"]
            assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in a["ops"]["ops"] or a["chunk"] == 1 or a["chunked"]["steps"] > 1
            x = a["ops"]["xnnpack"]
            assert sum(x["delegated"].values()) + sum(x["not_delegated"].values()) == sum(a["ops"]["ops"].values())
    config = (copied / "required_operators.config").read_text()
    assert "LSTM" in config and str(copied.parent) not in config
    assert all(c["status"] == "pass" for c in m["host_check"])


@pytest.mark.parametrize("which", ["artefact", "sidecar", "golden", "readme", "config"])
def test_flipped_byte_is_named(copied, capsys, which):
    m = json.loads((copied / MANIFEST).read_text())
    pick = {"artefact": lambda n: n.endswith((".onnx", ".ort", ".tflite")), "sidecar": lambda n: n.endswith(".json"),
            "golden": lambda n: n == "golden.npz", "readme": lambda n: n == "README.md",
            "config": lambda n: n.endswith(".config")}[which]
    names = [n for n in m["files"] if pick(n)]
    assert names
    for name in names:
        path = copied / name
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
        assert harness(["verify", str(copied)]) == 3
        err = capsys.readouterr().err
        assert name in err and "sha256" in err, err
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    assert harness(["verify", str(copied)]) == 0


def test_edited_manifest_is_refused(copied, capsys):
    text = (copied / MANIFEST).read_text()
    (copied / MANIFEST).write_text(text.replace('"atol": 1e-05', '"atol": 1.0', 1))   # loosen a budget by hand
    assert harness(["verify", str(copied)]) == 3
    assert "manifest" in capsys.readouterr().err


def test_golden_vectors_of_another_model_are_refused(copied, capsys):
    with np.load(copied / "golden.npz") as z:
        golden = {k: z[k] for k in z.files}
    golden["model_sha256"] = np.array("0" * 64)       # vectors made from other weights, hashes made consistent
    np.savez(copied / "golden.npz", **golden)
    rewrite_manifest(copied, lambda m: None)
    assert harness(["verify", str(copied)]) == 3
    assert "golden vectors were made for model 0000" in capsys.readouterr().err


def test_a_budget_miss_on_the_device_exits_1(copied, capsys):
    """The verdict can fail: shift PyTorch's recorded outputs and every fp32 stage misses."""
    with np.load(copied / "golden.npz") as z:
        golden = {k: z[k] for k in z.files}
    golden["pytorch.state.y"] = golden["pytorch.state.y"] + 1e-3
    np.savez(copied / "golden.npz", **golden)
    rewrite_manifest(copied, lambda m: None)
    assert harness(["verify", str(copied)]) == 1
    out = capsys.readouterr().out
    assert "FAIL onnx-fp32.onnx: state: output 'y' differs from pytorch" in out
    assert "FAIL tflite-fp32.tflite" in out


@pytest.mark.parametrize("entry", ["../outside.onnx", "/etc/passwd"])
def test_paths_outside_the_bundle_are_refused(copied, capsys, entry):
    m = json.loads((copied / MANIFEST).read_text())
    m["files"][entry] = {"sha256": "0" * 64, "size_bytes": 1}
    m["content_sha256"] = manifest_digest(m)
    (copied / MANIFEST).write_text(json.dumps(m))
    assert harness(["verify", str(copied)]) == 4
    assert entry in capsys.readouterr().err


def test_symlinked_artefact_is_refused(copied, capsys):
    target = copied.parent / "real.onnx"
    shutil.move(copied / "onnx-fp32.onnx", target)
    (copied / "onnx-fp32.onnx").symlink_to(target)
    assert harness(["verify", str(copied)]) == 4
    assert "symbolic link" in capsys.readouterr().err


def test_archive_verifies_and_a_traversing_archive_is_refused(tiny_run, tmp_path, capsys):
    from typer.testing import CliRunner

    from lstm_edge.cli import app

    out, _ = tiny_run
    r = CliRunner().invoke(app, ["bundle", str(out), "--out", str(tmp_path / "b"), "--archive",
                                 "--artifact", "onnx-fp32", "--artifact", "tflite-step-fp32.tflite"])
    assert r.exit_code == 0, r.output
    assert "XNNPACK takes" in r.output
    assert harness(["verify", str(tmp_path / "b.tar.gz")]) == 0
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        tar.add(tmp_path / "b" / MANIFEST, arcname="../../escaped.json")
    assert harness(["verify", str(evil)]) == 4
    assert "escaped.json" in capsys.readouterr().err
    assert not (tmp_path.parent / "escaped.json").exists()


def test_flex_op_fails_the_bundle(tiny_run, tmp_path):
    """A TFLite artefact that needs a Flex op cannot run on the device's LiteRT: exit 1, op named."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils as fbu
    from typer.testing import CliRunner

    from lstm_edge.files import read_json, write_sidecar
    from lstm_edge.cli import app

    out, _ = tiny_run
    run = tmp_path / "run"
    shutil.copytree(out, run, ignore=shutil.ignore_patterns("bundle"))
    path = run / "tflite-step-fp32.tflite"
    model = fbu.read_model(str(path))
    code = next(c for c in model.operatorCodes if max(c.builtinCode, c.deprecatedBuiltinCode) == schema.BuiltinOperator.TANH)
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    code.customCode = b"FlexTanh"
    fbu.write_model(model, str(path))
    write_sidecar(path, {k: v for k, v in read_json(run / "tflite-step-fp32.tflite.json").items()})
    r = CliRunner().invoke(app, ["bundle", str(run), "--out", str(tmp_path / "b"), "--artifact", "tflite-step-fp32"])
    assert r.exit_code == 1, r.output
    assert "FlexTanh" in r.output and "not deployable" in r.output
    assert not (tmp_path / "b").exists() and not list(tmp_path.glob(".b.staging-*"))


def test_bench_json_schema_and_compare(copied, tmp_path):
    from lstm_edge.runtime.harness.bench import validate_bench

    args = ["bench", copied.name, "--warmup", "2", "--iterations", "5", "--artifact", "onnx-fp32.onnx",
            "--artifact", "tflite-step-fp32.tflite", "--artifact", "tflite-fp32.tflite", "--out", "a.json"]
    r = run_device(args, cwd=copied.parent)
    assert r.returncode == 0, r.stderr
    doc = json.loads((copied.parent / "a.json").read_text())
    assert validate_bench(doc) == []
    by = {x["artifact"]: x for x in doc["results"]}
    assert by["onnx-fp32.onnx"]["step"]["p99_ms"] >= by["onnx-fp32.onnx"]["step"]["p50_ms"] > 0
    assert by["tflite-fp32.tflite"]["step"] is None                  # the fused kernel cannot carry a stream
    assert doc["settings"]["threads"] == 1 and doc["device"]["cpu_count"] >= 1
    broken = json.loads(json.dumps(doc))
    broken["results"][0]["sequence"]["p50_ms"] = float("nan")
    assert validate_bench(broken)                                    # the schema check can fail
    shutil.copy(copied.parent / "a.json", copied.parent / "b.json")
    r = run_device(["compare", "a.json", "b.json"], cwd=copied.parent)
    assert r.returncode == 0, r.stderr
    assert "onnx-fp32.onnx" in r.stdout and "1.00×" in r.stdout


def test_one_runtime_installed_runs_its_artefacts_only(copied):
    r = run_device(["verify", copied.name], cwd=copied.parent, extra_block=("onnxruntime",))
    assert r.returncode == 0, r.stderr
    assert "skipped: onnxruntime is not installed here" in r.stdout and "tflite-fp32.tflite" in r.stdout
    r = run_device(["verify", copied.name], cwd=copied.parent, extra_block=("onnxruntime", "ai_edge_litert"))
    assert r.returncode == 5 and "no artefact in this bundle can run here" in r.stderr


def test_run_npz_and_csv(copied, tmp_path):
    from lstm_edge.runtime import open_runner

    x = np.random.default_rng(0).standard_normal((2, 9, 4)).astype(np.float32)
    np.savez(tmp_path / "in.npz", x=x)
    assert harness(["run", str(copied), "--input", str(tmp_path / "in.npz"), "--artifact", "onnx-fp32.ort"]) == 0
    with np.load(tmp_path / "in.out.npz") as z:
        zero = np.zeros((2, 2, 8), np.float32)
        want = open_runner(copied / "onnx-fp32.onnx").run({"x": x, "h0": zero, "c0": zero})
        np.testing.assert_allclose(z["y"], want["y"], atol=1e-6)
    rows = np.random.default_rng(1).normal([15, 60, 60, 3], [3, 7, 15, 0.6], (30, 4))
    (tmp_path / "in.csv").write_text("temperature,humidity,load,vibration\n"
                                     + "\n".join(",".join(f"{v:.3f}" for v in r) for r in rows) + "\n")
    assert harness(["run", str(copied), "--input", str(tmp_path / "in.csv")]) == 0
    lines = (tmp_path / "in.out.csv").read_text().splitlines()
    assert lines[0] == "t,forecast_next_temperature,forecast_next_load,anomaly" and len(lines) == 31
    # the same rows as Excel saves them (BOM, CRLF, quoted header, columns in another order): the same answer
    (tmp_path / "excel.csv").write_bytes(b"\xef\xbb\xbf\"load\",\"vibration\",\"temperature\",\"humidity\"\r\n" + "".join(
        f"{r[2]:.3f},{r[3]:.3f},{r[0]:.3f},{r[1]:.3f}\r\n" for r in rows).encode() + b"\r\n")
    assert harness(["run", str(copied), "--input", str(tmp_path / "excel.csv")]) == 0
    assert (tmp_path / "excel.out.csv").read_text().splitlines() == lines
    # the fused kernel cannot carry a stream (no cn): exit 3, as from lstm-edge stream
    assert harness(["run", str(copied), "--input", str(tmp_path / "in.csv"), "--artifact", "tflite-fp32.tflite"]) == 3


@pytest.mark.parametrize("edit,message", [
    (lambda m: m["files"].pop("onnx-fp32.onnx"), "not listed with a hash"),
    (lambda m: m["artifacts"][0].pop("budget"), "lacks ['budget']"),
    (lambda m: m["model"].pop("weights_sha256"), "weights_sha256"),
    (lambda m: m["artifacts"][0].update(runtime="tvm"), "unknown runtime"),
])
def test_a_consistent_but_incomplete_manifest_is_refused(copied, capsys, edit, message):
    """Digest recomputed, so only the schema check can catch it — above all an artefact without a hash."""
    m = json.loads((copied / MANIFEST).read_text())
    edit(m)
    m["content_sha256"] = manifest_digest(m)
    (copied / MANIFEST).write_text(json.dumps(m))
    assert harness(["verify", str(copied)]) == 3
    assert message in capsys.readouterr().err


def test_a_runtime_crash_on_one_artefact_is_named_and_the_rest_still_judged(copied):
    """Each artefact runs in its own child process on the device: a native crash (injected here
    as SIGABRT for one file) becomes a verdict and exit 3, not the end of the harness."""
    import os

    r = subprocess.run(
        [sys.executable, "-m", "lstm_edge.runtime", "verify", copied.name], capture_output=True, text=True,
        cwd=copied.parent, env=dict(os.environ, LSTM_EDGE_INJECT_CRASH="tflite-fp32.tflite"))
    assert r.returncode == 3, r.stdout + r.stderr
    assert "CRASH: SIGABRT" in r.stdout and "the runtime crashed on tflite-fp32.tflite (SIGABRT)" in r.stderr
    assert any(line.startswith("onnx-fp32.onnx ") and line.rstrip().endswith("pass") for line in r.stdout.splitlines())
