"""Parity on ARM without ARM hardware (lstm_edge/emulate, runtime/harness/where.py): where the harness ran,
missing prerequisites named with their command, emulated bench figures never compared, the cross-architecture
section of report.md; slow: the device harness on aarch64 under qemu on a copied bundle, every artefact
judged there, and a deliberately perturbed golden output failing naming the artefact and the architecture."""
from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from lstm_edge.cli import app
from lstm_edge.errors import EnvironmentFault, ParityError

X86 = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\nflags\t: fpu sse\n"


def test_the_cpu_is_named_as_the_runtime_sees_it():
    from lstm_edge.emulate.aarch64 import CPUINFO
    from lstm_edge.runtime.harness.where import cpu_model

    assert cpu_model(X86) == "Intel(R) Xeon(R) CPU @ 2.20GHz"
    assert cpu_model(CPUINFO) == "Neoverse-N1 (0x41:0xd0c)"            # aarch64 Linux has parts, not names
    assert cpu_model("CPU implementer\t: 0x41\nCPU part\t: 0xfff\n") == "ARM core (0x41:0xfff)"
    assert cpu_model("CPU implementer\t: 0x61\nCPU part\t: 0x022\n") == "core (0x61:0x022)"   # Apple's, say


def test_the_environment_says_whether_it_was_emulated(monkeypatch):
    from lstm_edge.runtime.harness.where import EMULATED_ENV, describe, environment

    monkeypatch.delenv(EMULATED_ENV, raising=False)
    env = environment()
    assert env["emulated"] is None and env["machine"] and env["python"] and env["onnxruntime"]
    monkeypatch.setenv(EMULATED_ENV, "qemu-aarch64 7.2 -cpu neoverse-n1")
    env = environment()
    assert env["emulated"] == "qemu-aarch64 7.2 -cpu neoverse-n1" and "emulated: qemu" in describe(env)


def _bench_doc(emulated):
    part = {"mean_ms": 1.0, "p50_ms": 1.0, "p90_ms": 1.1, "p99_ms": 1.2}
    return {"schema": "lstm-edge-device-bench/1",
            "device": {"machine": "aarch64" if emulated else "x86_64", "cpu_count": 2, "emulated": emulated},
            "bundle": {}, "settings": {"threads": 1},
            "results": [{"artifact": "onnx-fp32.onnx", "sequence": part, "step": part, "peak_rss_mb": 50,
                         "size_bytes": 100, "load_ms": 3}]}


def test_emulated_bench_figures_are_never_compared(tmp_path):
    from lstm_edge.runtime.harness.compare import compare_rows, render

    host, arm = _bench_doc(None), _bench_doc("qemu-aarch64 7.2")
    header, rows = compare_rows([host, arm])
    assert rows[0][header.index("[1]/[0] seq")] == "—" and rows[0][header.index("[1]/[0] step")] == "—"
    _, fair = compare_rows([host, _bench_doc(None)])
    assert fair[0][header.index("[1]/[0] seq")] == "1.00×"
    (tmp_path / "x86.json").write_text(json.dumps(host))
    (tmp_path / "arm.json").write_text(json.dumps(arm))
    assert "emulated (qemu-aarch64 7.2): not a latency, not compared" in render([tmp_path / "x86.json", tmp_path / "arm.json"])


def test_a_missing_prerequisite_is_named_with_its_command(monkeypatch):
    from lstm_edge.emulate import aarch64

    real = shutil.which
    monkeypatch.setattr(aarch64.shutil, "which", lambda name: None if name == "qemu-aarch64-static" else real(name))
    with pytest.raises(EnvironmentFault) as e:
        aarch64.prerequisites()
    assert e.value.exit_code == 5 and "qemu-user-static" in str(e.value) and "apt-get install -y qemu-user-static" in str(e.value)


def test_the_cli_refuses_an_unknown_arch_and_a_missing_bundle(tmp_path):
    r = CliRunner().invoke(app, ["device-check", str(tmp_path), "--arch", "riscv64"])
    assert r.exit_code == 2 and "aarch64" in r.output, r.output
    r = CliRunner().invoke(app, ["device-check", str(tmp_path / "nope"), "--arch", "aarch64"])
    assert r.exit_code == 3 and "nope" in r.output, r.output


def _doc(status="pass", failures=()):
    return {"arch": "aarch64", "emulated": "qemu-aarch64 7.2.22 -cpu neoverse-n1", "seconds": 12.0, "passed": status == "pass",
            "environment": {"machine": "aarch64", "cpu": "Neoverse-N1 (0x41:0xd0c)", "python": "3.11.2"},
            "manifest_sha256": None, "bench": None,
            "artifacts": [{"file": "tflite-fp32.tflite", "runtime": "litert", "precision": "fp32", "status": status,
                           "vs_host": 3e-7, "vs_parent": 5e-7, "metric": 0.2, "failures": list(failures), "reason": ""}]}


def test_a_miss_names_the_artefact_and_the_architecture():
    from lstm_edge.emulate.check import judge

    judge(_doc())
    with pytest.raises(ParityError) as e:
        judge(_doc("FAIL", ["windows: output 'y' differs from pytorch by 0.1 at (0, 0, 0), budget 1e-05 + 1e-05·|ref|"]))
    assert e.value.exit_code == 1 and "aarch64: tflite-fp32.tflite: windows: output 'y'" in str(e.value)


def test_report_md_keeps_the_cross_architecture_section_and_marks_it_stale(tmp_path):
    from lstm_edge.emulate.check import _manifest_sha, sections

    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "manifest.json").write_text("{}")
    doc = _doc() | {"manifest_sha256": _manifest_sha(tmp_path / "bundle")}
    (tmp_path / "device-aarch64.json").write_text(json.dumps(doc))
    text = sections(tmp_path)
    assert "## Cross-architecture: aarch64" in text and "| tflite-fp32.tflite | litert | fp32 | 3.00e-07 |" in text
    assert "Stale" not in text and "Neoverse-N1" in text
    (tmp_path / "bundle" / "manifest.json").write_text('{"changed": 1}')
    assert "Stale" in sections(tmp_path)
    (tmp_path / "device-aarch64.json").write_text("{not json")
    assert "could not be read" in sections(tmp_path)


# ---- the harness on aarch64, emulated (slow: builds or reuses ~/.cache/lstm-edge/aarch64, runs under qemu) -------


@pytest.fixture(scope="module")
def guest():
    from lstm_edge.emulate import aarch64

    try:
        aarch64.prerequisites()
    except EnvironmentFault as e:        # CI's .ci/run installs them when it runs as root
        pytest.skip(f"the emulated aarch64 check needs its prerequisites: {e}")
    return aarch64.build()


@pytest.mark.slow
def test_the_tiny_bundle_on_aarch64(guest, tiny_run, tmp_path):
    out, _ = tiny_run
    run = tmp_path / "run"
    shutil.copytree(out, run, ignore=shutil.ignore_patterns("device-*.json"))
    r = CliRunner().invoke(app, ["device-check", str(run / "bundle"), "--arch", "aarch64", "--bench",
                                 "--json", str(tmp_path / "arm.json"), "--junit-xml", str(tmp_path / "arm.xml")])
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "arm.json").read_text())
    env = doc["environment"]
    assert env["machine"] == "aarch64" and env["cpu"].startswith("Neoverse-N1") and env["emulated"].startswith("qemu-aarch64")
    checks = {a["file"]: a for a in doc["artifacts"]}
    assert checks and all(a["status"] == "pass" for a in checks.values()), checks
    fp32 = [a for a in checks.values() if a["precision"] == "fp32"]
    assert fp32 and all(a["vs_host"] is not None and a["vs_host"] < 1e-5 for a in fp32)
    assert doc["bench"]["device"]["emulated"] and all(x.get("note") == "emulated, not a latency"
                                                      for x in doc["bench"]["results"] if "skipped" not in x)
    assert "## Cross-architecture: aarch64" in (run / "report.md").read_text()
    from junitparser import JUnitXml

    (suite,) = list(JUnitXml.fromfile(str(tmp_path / "arm.xml")))
    props = {p.name: p.value for p in suite.properties()}
    assert props["machine"] == "aarch64" and props["emulated"].startswith("qemu") and suite.failures == 0

    # a live stream of raw rows through each streaming artefact there answers what it answers on the host
    import csv
    import subprocess
    import sys

    import numpy as np

    rows = np.random.default_rng(1).normal([15, 60, 60, 3], [3, 7, 15, 0.6], (40, 4))
    live = tmp_path / "live.csv"
    live.write_text("temperature,humidity,load,vibration\n" + "\n".join(",".join(f"{v:.3f}" for v in r) for r in rows) + "\n")
    manifest = json.loads((run / "bundle" / "manifest.json").read_text())
    streaming = {a["file"]: a["precision"] for a in manifest["artifacts"] if "cn" in a["outputs"]}
    assert "onnx-fp32.onnx" in streaming and "tflite-step-fp32.tflite" in streaming
    for name, precision in streaming.items():
        answers = []
        for where, python in (("arm", None), ("host", sys.executable)):
            args = ["-m", "lstm_edge.runtime", "run", run / "bundle", "--input", live, "--artifact", name,
                    "--output", tmp_path / f"{where}-{name}.csv"]
            r = guest.run(args, timeout=900) if python is None else subprocess.run([python, *map(str, args)],
                                                                                     capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
            with open(tmp_path / f"{where}-{name}.csv", newline="") as f:
                answers.append(list(csv.reader(f)))
        arm, host = answers
        assert arm[0] == host[0] and len(arm) == len(host) == 41
        if precision != "fp32":      # quantized kernels differ across architectures (int8: by design); judged above
            continue
        np.testing.assert_allclose(np.array([r[1:-1] for r in arm[1:]], float),
                                   np.array([r[1:-1] for r in host[1:]], float), atol=2e-4)   # 4 decimals printed
        assert [r[-1] for r in arm] == [r[-1] for r in host]             # the same anomaly flags

    # verify on the host re-renders report.md with the section kept (its own verdict is the tiny model's: its
    # int8 stream drifts past budget at n = 1000, exit 1)
    assert CliRunner().invoke(app, ["verify", str(run)]).exit_code in (0, 1)
    assert "## Cross-architecture: aarch64" in (run / "report.md").read_text()

    # a tampered bundle (one artefact's bytes changed, the manifest not): refused there as on x86, exit 3
    tampered = tmp_path / "tampered"
    shutil.copytree(run / "bundle", tampered)
    blob = bytearray((tampered / "onnx-fp32.onnx").read_bytes())
    blob[-1] ^= 0xFF
    (tampered / "onnx-fp32.onnx").write_bytes(bytes(blob))
    there = guest.run(["-m", "lstm_edge.runtime", "verify", tampered], timeout=600)
    here = subprocess.run([sys.executable, "-m", "lstm_edge.runtime", "verify", str(tampered)], capture_output=True,
                          text=True)
    assert there.returncode == here.returncode == 3 and "onnx-fp32.onnx" in there.stderr, there.stderr

    # PyTorch's golden output moved (as if the device computed something else): the stages judged against it miss
    # their budget on aarch64, each named with the architecture; exit 1
    from test_bundle import rewrite_manifest

    g = dict(np.load(run / "bundle" / "golden.npz"))
    g["pytorch.state.y"] = g["pytorch.state.y"] + 0.05
    np.savez(run / "bundle" / "golden.npz", **g)
    rewrite_manifest(run / "bundle", lambda m: None)
    r = CliRunner().invoke(app, ["device-check", str(run / "bundle"), "--arch", "aarch64"])
    said = " ".join(r.output.split())
    assert r.exit_code == 1 and "failed on aarch64" in said and "aarch64: onnx-fp32.onnx: state: output 'y'" in said, said


# ---- the environment builder's pieces (fast: nothing downloaded, nothing emulated) ----------------------------


def test_the_cache_key_follows_the_environment(monkeypatch, tmp_path):
    from lstm_edge.emulate.aarch64 import cache_dir

    monkeypatch.delenv("LSTM_EDGE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "lstm-edge" / "aarch64"
    monkeypatch.setenv("LSTM_EDGE_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine" / "aarch64"


def test_no_wheel_newer_than_the_guests_glibc_is_taken():
    from lstm_edge.emulate.aarch64 import PLATFORMS

    glibc = [tuple(int(v) for v in p.split("_")[1:3]) for p in PLATFORMS if p.startswith("manylinux_")]
    assert max(glibc) == (2, 36) and "manylinux2014_aarch64" in PLATFORMS        # bookworm's glibc is 2.36
    assert all(p.endswith("_aarch64") for p in PLATFORMS)


def test_the_launcher_brings_children_back_through_qemu(tmp_path, monkeypatch):
    from lstm_edge.emulate import aarch64

    monkeypatch.setattr(aarch64.shutil, "which", lambda name: f"/usr/bin/{name}")
    guest = aarch64.Guest(tmp_path / "bin" / "python", "qemu-aarch64 7.2.22 -cpu neoverse-n1", {})
    aarch64._launcher(guest, tmp_path / "sys root", tmp_path / "site")
    text = guest.python.read_text()
    assert guest.python.stat().st_mode & 0o111                                   # executable
    assert f"-0 {guest.python}" in text                                          # argv[0] = the launcher itself
    assert f"-L '{tmp_path / 'sys root'}'" in text and "-cpu neoverse-n1" in text  # quoted: a path with a space
    assert f"PYTHONHOME='{tmp_path / 'sys root' / 'usr'}'" in text and "LSTM_EDGE_EMULATED=" in text
    mtime = guest.python.stat().st_mtime_ns
    aarch64._launcher(guest, tmp_path / "sys root", tmp_path / "site")           # unchanged: not rewritten
    assert guest.python.stat().st_mtime_ns == mtime


def test_the_project_is_reinstalled_when_its_code_changes(tmp_path, monkeypatch):
    """The stamp is a digest of lstm-edge's files: unchanged, nothing is rebuilt; changed, it is."""
    from lstm_edge.emulate import aarch64

    site = tmp_path / "site"
    site.mkdir()
    calls = []
    monkeypatch.setattr(aarch64.subprocess, "run", lambda cmd, **kw: calls.append(cmd) or _Done())
    monkeypatch.setattr(aarch64.Path, "glob", lambda self, pattern: iter([tmp_path / "lstm_edge-0-py3-none-any.whl"]))
    aarch64._project(site, tmp_path, lambda _: None)
    first = (site / ".lstm-edge-project").read_text()
    built = len(calls)
    assert built and any("wheel" in c for c in calls)
    aarch64._project(site, tmp_path, lambda _: None)
    assert len(calls) == built                                                   # the same code: stamp holds
    (site / ".lstm-edge-project").write_text("another digest")
    aarch64._project(site, tmp_path, lambda _: None)
    assert len(calls) > built and (site / ".lstm-edge-project").read_text() == first


class _Done:
    returncode, stdout, stderr = 0, "", ""
