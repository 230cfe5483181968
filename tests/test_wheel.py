"""The wheel ships what the README promises, tried as a new user would, outside the source tree.

One wheel per session, built from a snapshot of this checkout copied to a temporary directory
(building in place would write build/ and *.egg-info into the shared checkout, and setuptools
ships whatever a stale build/lib still holds), then installed into two fresh virtualenvs:

- base (`pip install lstm-edge`, the device install): numpy, onnxruntime, ai-edge-litert and
  nothing heavy; every `lstm_edge.runtime` module imports; `python -m lstm_edge.runtime verify`
  passes a bundle copied to another directory.
- base + export (`pip install 'lstm-edge[export]'`, the host install): every module of the wheel
  imports; `lstm-edge --help`; `lstm-edge export OUT --module m.py:Net --weights w.safetensors
  --example-shape 2,8,3` writes ONNX and TFLite; `lstm_edge.export(...)` from Python.

Every command runs with its working directory outside the checkout and no PYTHONPATH, and each
venv proves its `lstm_edge` is the one in its own site-packages. The dependencies come from the
package index configured for pip, as on a board, so this needs the registry `make` itself needs.
"""
from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
from venvs import Venv

pytestmark = pytest.mark.slow

# source folder → where its modules land in the wheel (pyproject.toml's package-dir)
FOLDERS = {"lstm_edge": "lstm_edge", "converters": "lstm_edge/converters", "runtime": "lstm_edge/runtime"}
PACKAGE_DATA = ("lstm_edge/data/corpus/*.txt",    # the charlm model's training text
                "lstm_edge/verify/report.schema.json")   # report.json's JSON Schema
BASE = {"lstm-edge", "numpy", "onnxruntime", "ai-edge-litert"}
# the [export] extra's distributions and their import names: none may reach the device install
HEAVY = {"torch": "torch", "tensorflow": "tensorflow", "tf-keras": "tf_keras", "onnx": "onnx",
         "onnxscript": "onnxscript", "typer": "typer", "rich": "rich", "safetensors": "safetensors",
         "matplotlib": "matplotlib"}
USER_MODULE = '''
from torch import nn


class Net(nn.Module):
    def __init__(self, hidden=4):
        super().__init__()
        self.lstm = nn.LSTM(3, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        return self.head(self.lstm(x)[0])
'''
# prints where lstm_edge was imported from and this interpreter's site-packages
WHERE = "import lstm_edge, sysconfig; print(lstm_edge.__file__); print(sysconfig.get_paths()['purelib'])"
# imports every module named on the command line; prints the heavy ones that got imported
IMPORT_ALL = """import importlib, sys
failed = []
for name in sys.argv[1:-1]:
    try:
        importlib.import_module(name)
    except Exception as e:
        failed.append(f"{name}: {type(e).__name__}: {e}")
assert not failed, "\\n".join(failed)
print(" ".join(sorted(m for m in sys.argv[-1].split(",") if m in sys.modules)))
"""


def assert_imports_from_its_own_site_packages(venv: Venv):
    file, purelib = venv.python("-c", WHERE).stdout.split()
    file, purelib = Path(file).resolve(), Path(purelib).resolve()
    assert purelib.is_relative_to(venv.root.resolve()), (purelib, venv.root)
    assert file.is_relative_to(purelib), f"lstm_edge imported from {file}, not from {purelib}"


# ---- what the wheel holds ----------------------------------------------------------------------


def test_wheel_modules_equal_the_source_trees(wheel):
    src = wheel.source
    source_py = {f"{dest}/{p.relative_to(src / folder).as_posix()}"
                 for folder, dest in FOLDERS.items() for p in (src / folder).rglob("*.py")}
    wheel_py = {n for n in wheel.names if n.endswith(".py")}
    assert wheel_py == source_py, (f"in the source tree, not in the wheel: {sorted(source_py - wheel_py)}; "
                                   f"in the wheel, not in the source tree: {sorted(wheel_py - source_py)}")

    data = {p.relative_to(src).as_posix() for pattern in PACKAGE_DATA for p in src.glob(pattern)}
    assert all(any(src.glob(pattern)) for pattern in PACKAGE_DATA), f"not all of {PACKAGE_DATA} in the source tree"
    (record,) = [n for n in wheel.names if n.endswith(".dist-info/RECORD")]
    dist_info = record.removesuffix("RECORD")
    rest = {n for n in wheel.names if not n.endswith(".py") and not n.startswith(dist_info)}
    assert rest == data, (f"package data missing from the wheel: {sorted(data - rest)}; "
                          f"unexpected files in the wheel: {sorted(rest - data)}")
    with zipfile.ZipFile(wheel.path) as z:
        entry_points = z.read(dist_info + "entry_points.txt").decode()
    assert "lstm-edge = lstm_edge.cli:main" in entry_points, entry_points
    assert "[pytest11]\nlstm_edge = lstm_edge.pytest_plugin" in entry_points, entry_points


# ---- the device install: base only -------------------------------------------------------------


def test_base_install_has_no_heavy_dependency(base_venv):
    installed = {line.split("==")[0].lower() for line in base_venv.python("-m", "pip", "freeze").stdout.split()}
    assert BASE <= installed, BASE - installed
    assert not installed & set(HEAVY), installed & set(HEAVY)
    assert_imports_from_its_own_site_packages(base_venv)


def test_base_install_imports_the_whole_runtime(base_venv, wheel):
    modules = wheel.modules("lstm_edge.runtime")
    assert "lstm_edge.runtime.runner" in modules, modules
    r = base_venv.python("-c", IMPORT_ALL, *modules, ",".join(HEAVY.values()))
    assert not r.stdout.strip(), f"the runtime imported {r.stdout.strip()}"
    assert "verify" in base_venv.python("-m", "lstm_edge.runtime", "--help").stdout


def test_base_install_verifies_a_copied_bundle(base_venv, tiny_run):
    out, _ = tiny_run
    board = base_venv.work / "board"
    shutil.copytree(out / "bundle", board / "model-bundle")
    r = base_venv.python("-m", "lstm_edge.runtime", "verify", "model-bundle", cwd=board)
    assert "verdict: PASS" in r.stdout and "skipped" not in r.stdout, r.stdout


# ---- the host install: base + [export] ---------------------------------------------------------


def test_export_install_imports_every_module(export_venv, wheel):
    assert_imports_from_its_own_site_packages(export_venv)
    modules = wheel.modules()
    assert "lstm_edge.byo.export" in modules, modules    # what a hand-written package list once left out
    # the pytest plugin is loaded by the user's pytest only (pytest is theirs, not a dependency): see test_pytest_plugin
    export_venv.python("-c", IMPORT_ALL, *[m for m in modules if m != "lstm_edge.pytest_plugin"], "")


def test_lstm_edge_help(export_venv):
    r = export_venv.run(export_venv.bin("lstm-edge"), "--help")
    for command in ("train", "export", "verify", "pipeline", "bundle", "bench"):
        assert command in r.stdout, r.stdout


@pytest.fixture(scope="session")
def user_module(export_venv) -> Path:
    """A user's file and its safetensors weights, written in the export venv as a user would."""
    work = export_venv.work / "byo"
    work.mkdir()
    (work / "m.py").write_text(USER_MODULE)
    export_venv.python("-c", "import torch, m; from safetensors.torch import save_file; torch.manual_seed(0); "
                       "save_file(m.Net().state_dict(), 'w.safetensors')", cwd=work)
    return work


def test_export_module_from_the_command_line(export_venv, user_module):
    """Both formats (the default): TFLite goes through lstm_edge.converters and TensorFlow, which an
    ONNX-only export never imports (≈ 13 s more)."""
    r = export_venv.run(export_venv.bin("lstm-edge"), "export", "out", "--module", "m.py:Net", "--weights",
                        "w.safetensors", "--example-shape", "2,8,3", cwd=user_module, timeout=600)
    out = user_module / "out"
    for name in ("model.onnx", "model.tflite", "byo-report.json"):
        assert (out / name).is_file(), f"{name} not written\n{r.stdout}\n{r.stderr}"
    report = json.loads((out / "byo-report.json").read_text())
    assert {a["format"] for a in report["artifacts"]} == {"onnx", "tflite"} and not report["refused"], report


def test_export_from_python(export_venv, user_module):
    r = export_venv.python("-c", "import lstm_edge, torch, m; torch.manual_seed(0); "
                           "r = lstm_edge.export(m.Net(), torch.randn(2, 8, 3), 'api-out', formats=('onnx',)); "
                           "print('written:', *[a['artifact'] for a in r['artifacts']])", cwd=user_module, timeout=600)
    assert r.stdout.splitlines()[-1] == "written: model.onnx", r.stdout
    assert (user_module / "api-out" / "model.onnx").is_file()
