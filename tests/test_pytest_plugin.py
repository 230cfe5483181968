"""The pytest plugin (lstm_edge/pytest_plugin.py) as a user meets it: a sample repository made here (a bundle, a
two-line test file, the paths in pyproject.toml), pytest run in a subprocess, its JUnit read with junitparser.

No golden file → every check fails naming the fix; --lstm-edge-regen writes it and fails once; then all pass;
one artefact's weights perturbed (its head bias: y moves, the state does not) → exactly that stage's `y`
fails, the JUnit names it, the worst elements are printed and the obtained vectors are left beside the golden
file. The plugin itself imports only what the base install has (tested without torch, tensorflow, onnx).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from junitparser import Failure, JUnitXml, Skipped

from test_runtime_boundary import BLOCKER

USER_TEST = "def test_parity(lstm_edge_check):\n    lstm_edge_check()\n"


def user_repo(tmp_path, bundle):
    repo = tmp_path / "repo"
    (repo / "tests").mkdir(parents=True)
    (repo / "tests" / "test_lstm_edge.py").write_text(USER_TEST)
    (repo / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [tool.pytest.ini_options]
        lstm_edge_bundle = "{bundle}"
        lstm_edge_golden = "tests/golden/tiny.npz"
        """))
    return repo


def pytest_in(repo, *args):
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml",
                        str(repo / "junit.xml"), *map(str, args)], cwd=repo, capture_output=True, text=True, timeout=900)
    (suite,) = list(JUnitXml.fromfile(str(repo / "junit.xml")))
    verdicts = {c.name: "fail" if any(isinstance(x, Failure) for x in c.result) else
                "skip" if any(isinstance(x, Skipped) for x in c.result) else "pass" for c in suite}
    return r, verdicts


def perturb_head_bias(bundle, file: str, delta: float) -> None:
    """Move the head's bias in one ONNX artefact (and re-hash the bundle, as re-bundling would)."""
    import onnx
    from onnx import numpy_helper

    from test_bundle import rewrite_manifest

    model = onnx.load(str(bundle / file))
    init = next(i for i in model.graph.initializer if "head" in i.name and "bias" in i.name)
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) + np.float32(delta), init.name))
    onnx.save(model, str(bundle / file))
    rewrite_manifest(bundle, lambda m: None)


@pytest.mark.slow
def test_a_user_repository_with_golden_vectors(tiny_run, tmp_path):
    out, _ = tiny_run
    bundle = tmp_path / "bundle"
    shutil.copytree(out / "bundle", bundle)
    repo = user_repo(tmp_path, bundle)

    r, v = pytest_in(repo)
    assert r.returncode == 1 and v and set(v.values()) == {"fail"} and "--lstm-edge-regen" in r.stdout, r.stdout[-2000:]
    ids = set(v)
    assert {"test_parity[onnx-fp32::y]", "test_parity[onnx-fp32::hn]", "test_parity[tflite-fp32::hn]",
            "test_parity[onnx-int8-dynamic::metric]"} <= ids

    r, v = pytest_in(repo, "--lstm-edge-regen")
    assert r.returncode == 1 and set(v.values()) == {"fail"} and "regenerated" in r.stdout
    assert (repo / "tests" / "golden" / "tiny.npz").is_file()

    r, v = pytest_in(repo)
    assert r.returncode == 0, r.stdout[-3000:]
    assert set(v) == ids and {k for k, x in v.items() if x == "skip"} == {
        k for k in ids if "int8" in k and not k.endswith("::metric]")}     # int8 outputs: judged by their metric

    perturb_head_bias(bundle, "onnx-fp32.onnx", 0.05)
    r, v = pytest_in(repo)
    assert r.returncode == 1
    assert {k for k, x in v.items() if x == "fail"} == {"test_parity[onnx-fp32::y]"}, r.stdout[-3000:]
    assert "worst:" in r.stdout and "allowed" in r.stdout
    obtained = np.load(repo / "tests" / "golden" / "tiny.obtained.npz")
    golden = np.load(repo / "tests" / "golden" / "tiny.npz")
    d = obtained["onnx-fp32.state.y"] - golden["onnx-fp32.state.y"]
    np.testing.assert_allclose(d, 0.05, atol=1e-4)                   # what moved, and by how much
    np.testing.assert_array_equal(obtained["onnx-fp32.state.hn"], golden["onnx-fp32.state.hn"])

    r, v = pytest_in(repo, "-k", "onnx-fp32 and hn and not ort")     # ids select as usual
    assert r.returncode == 0 and set(v) == {"test_parity[onnx-fp32::hn]"}


def test_the_plugin_imports_nothing_the_device_lacks():
    code = BLOCKER + "import lstm_edge.pytest_plugin\nprint('ok')\n"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


def test_without_a_bundle_pytest_says_what_to_set(tmp_path):
    (tmp_path / "test_x.py").write_text(USER_TEST)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "test_x.py")],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "--lstm-edge-bundle" in r.stdout + r.stderr, r.stdout + r.stderr
