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
import os
import shutil
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
# source folder → where its modules land in the wheel (pyproject.toml's package-dir)
FOLDERS = {"lstm_edge": "lstm_edge", "converters": "lstm_edge/converters", "runtime": "lstm_edge/runtime"}
PACKAGE_DATA = "lstm_edge/data/corpus/*.txt"     # the charlm model's training text
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


def run(*cmd, cwd: Path, env=None, timeout=900, ok=True) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)
    if ok:
        assert r.returncode == 0, f"{cmd} (cwd {cwd}): exit {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@dataclass
class Wheel:
    path: Path
    source: Path               # the snapshot it was built from
    names: list = field(default_factory=list)

    def modules(self, prefix: str = "lstm_edge") -> list:
        """Dotted names of the wheel's modules under `prefix`, __main__ left out (importing it runs it)."""
        out = []
        for n in self.names:
            if n.endswith(".py") and not n.endswith("/__main__.py"):
                dotted = n[:-3].replace("/", ".").removesuffix(".__init__")
                if dotted == prefix or dotted.startswith(prefix + "."):
                    out.append(dotted)
        return sorted(out)


@dataclass
class Venv:
    root: Path
    work: Path                 # a directory outside the checkout, the cwd of every command
    install_seconds: float = 0.0
    requirement: str = ""

    def bin(self, name: str) -> Path:
        return self.root / "bin" / name

    @property
    def env(self) -> dict:
        """The user's environment: pip's configuration kept; no PYTHON* variables, no user site,
        nothing this test session set for TensorFlow; this venv first on PATH."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PYTHON", "TF_")) and k not in ("VIRTUAL_ENV", "CONDA_PREFIX")}
        env |= {"PYTHONNOUSERSITE": "1", "VIRTUAL_ENV": str(self.root),
                "PATH": f"{self.root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
        return env

    def run(self, *cmd, cwd: Path | None = None, **kw) -> subprocess.CompletedProcess:
        return run(*cmd, cwd=cwd or self.work, env=self.env, **kw)

    def python(self, *args, **kw) -> subprocess.CompletedProcess:
        return self.run(self.bin("python"), *args, **kw)


def _snapshot_ignore(directory: str, names: list) -> set:
    """Leave out what is not source: VCS, virtualenvs, caches, build output, run artefacts."""
    skip = {n for n in names if n == "__pycache__" or n.endswith((".pyc", ".egg-info"))
            or (Path(directory) / n / "pyvenv.cfg").exists()}
    if Path(directory).resolve() == ROOT:
        skip |= {n for n in names if n.startswith(".") or n in ("build", "dist", "artifacts")}
    return skip


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Wheel:
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=_snapshot_ignore, symlinks=True)
    # an absolute path: a bare folder name is a requirement pip would look up on the index
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
        "-w", base / "dist", source, cwd=base)
    (path,) = (base / "dist").glob("lstm_edge-*.whl")
    with zipfile.ZipFile(path) as z:
        return Wheel(path, source, z.namelist())


def _venv(tmp_path_factory, name: str, requirement: str) -> Venv:
    root = tmp_path_factory.mktemp(name)
    venv = Venv(root / "venv", root / "work")
    venv.work.mkdir()
    assert not venv.work.resolve().is_relative_to(ROOT)
    t = time.perf_counter()
    run(sys.executable, "-m", "venv", venv.root, cwd=root)
    # --no-compile: byte-compiling all of torch and tensorflow is a third of the install; Python
    # compiles what gets imported anyway
    venv.python("-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile", requirement,
                timeout=1800)
    venv.install_seconds = time.perf_counter() - t
    venv.requirement = requirement
    return venv


@pytest.fixture(scope="session")
def installs(tmp_path_factory, wheel):
    """Both venvs install in the background, side by side, while the tests that need neither (and
    the tiny model's training, for the bundle) run: the [export] install is most of this file's time."""
    with ThreadPoolExecutor(2) as pool:
        yield {"base": pool.submit(_venv, tmp_path_factory, "base-venv", str(wheel.path)),
               "export": pool.submit(_venv, tmp_path_factory, "export-venv", f"{wheel.path}[export]")}


def _said(venv: Venv) -> Venv:
    print(f"{venv.root.parent.name}: python -m venv + pip install {venv.requirement} in {venv.install_seconds:.1f} s")
    return venv


@pytest.fixture(scope="session")
def base_venv(installs) -> Venv:
    return _said(installs["base"].result())


@pytest.fixture(scope="session")
def export_venv(installs) -> Venv:
    return _said(installs["export"].result())


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

    data = {p.relative_to(src).as_posix() for p in src.glob(PACKAGE_DATA)}
    assert data, f"no {PACKAGE_DATA} in the source tree"
    (record,) = [n for n in wheel.names if n.endswith(".dist-info/RECORD")]
    dist_info = record.removesuffix("RECORD")
    rest = {n for n in wheel.names if not n.endswith(".py") and not n.startswith(dist_info)}
    assert rest == data, (f"package data missing from the wheel: {sorted(data - rest)}; "
                          f"unexpected files in the wheel: {sorted(rest - data)}")
    with zipfile.ZipFile(wheel.path) as z:
        entry_points = z.read(dist_info + "entry_points.txt").decode()
    assert "lstm-edge = lstm_edge.cli:main" in entry_points, entry_points


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
    export_venv.python("-c", IMPORT_ALL, *modules, "")


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
