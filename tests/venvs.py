"""Fresh virtualenvs with the wheel of this checkout, as a new user installs it (shared by
tests/test_wheel.py and tests/test_project.py through conftest.py).

One wheel per session, built from a snapshot of this checkout copied to a temporary directory
(building in place would write build/ and *.egg-info into the shared checkout, and setuptools
ships whatever a stale build/lib still holds), then installed into two fresh virtualenvs, in the
background and side by side: base (`pip install lstm-edge`, the device install) and base + export
(`pip install 'lstm-edge[export]'`, the host install). Every command runs with its working
directory outside the checkout and no PYTHONPATH.
"""
from __future__ import annotations

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

ROOT = Path(__file__).resolve().parents[1]


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
