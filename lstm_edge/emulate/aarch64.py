"""An aarch64 Python for the device harness, emulated on an x86-64 host: built once, cached, from
Debian's and PyPI's packages only (no docker, no prebuilt toolchains).

    CACHE/sysroot/     Debian bookworm's arm64 python3.11 and the libraries it needs (apt-get download, dpkg -x)
    CACHE/sysroot/proc/cpuinfo   an ARM-shaped cpuinfo (see below)
    CACHE/site/        aarch64 wheels of numpy, onnxruntime, ai-edge-litert (the host's versions), and lstm-edge
    CACHE/bin/python   the launcher: runs the guest python under qemu-aarch64-static

CACHE is $LSTM_EDGE_CACHE/aarch64, else $XDG_CACHE_HOME/lstm-edge/aarch64, else ~/.cache/lstm-edge/aarch64.
Each part is rebuilt only when what it was built from changes (a stamp file records it).

Two obstacles of qemu-user 7.2 and how they are met (measured on this project's host):
- it shows the guest the host's x86 /proc/cpuinfo, and onnxruntime and LiteRT crash on it (SIGSEGV in
  their CPU detection); `-L SYSROOT` redirects an absolute path that exists under the sysroot, so an
  ARM-shaped cpuinfo (a Neoverse-N1, `-cpu neoverse-n1` to match) there fixes it without root;
- without binfmt_misc (containers have none) a child started through sys.executable cannot exec an
  aarch64 binary; `-0 LAUNCHER` makes the guest's argv[0], hence sys.executable, the launcher script,
  so the harness's children come back through qemu.

Root is needed once, for what the host's package manager installs (SETUP below); anything missing is
named with that command (exit 5, an environment fault, as a missing runtime is). Everything else runs as a normal user.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lstm_edge.errors import EnvironmentFault

CPU = "neoverse-n1"
SETUP = ("apt-get update && apt-get install -y qemu-user-static && dpkg --add-architecture arm64 && "
         "apt-get update")
# the arm64 closure of python3.11-minimal + libpython3.11-stdlib + libstdc++6 in bookworm (the arch: all
# packages and dpkg/perl are not needed to run it)
DEBS = ("libc6", "libgcc-s1", "libstdc++6", "python3.11-minimal", "libpython3.11-minimal", "libpython3.11-stdlib",
        "libexpat1", "zlib1g", "libssl3", "libffi8", "libbz2-1.0", "liblzma5", "libsqlite3-0", "libcrypt1", "libuuid1",
        "libdb5.3", "libncursesw6", "libtinfo6", "libreadline8", "libnsl2", "libtirpc3", "libgssapi-krb5-2",
        "libkrb5-3", "libk5crypto3", "libkrb5support0", "libcom-err2", "libkeyutils1")
# bookworm's glibc is 2.36: no wheel needing a newer one may be taken
PLATFORMS = ("manylinux2014_aarch64", *(f"manylinux_2_{v}_aarch64" for v in (17, 24, 26, 27, 28, 31, 34, 35, 36)))
RUNTIMES = ("numpy", "onnxruntime", "ai-edge-litert")
CPUINFO = "".join(f"processor\t: {i}\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics "
                  "fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs\nCPU implementer\t: 0x41\nCPU architecture: 8\n"
                  "CPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n\n" for i in range(2))


@dataclass
class Guest:
    python: Path                  # the launcher: use it as an aarch64 python
    emulator: str                 # "qemu-aarch64 7.2.22 -cpu neoverse-n1"
    lock: dict                    # what it was built from: every .deb and wheel with its sha256, lstm-edge's digest

    def run(self, args: list, *, timeout: float) -> subprocess.CompletedProcess:
        """The guest python on `args` (absolute paths: it runs in the cache, so a source tree in the caller's
        directory — lstm_edge/ without its runtime/ — cannot shadow the installed package)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}   # nothing of the host's Python
        return subprocess.run([str(self.python), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                              env=env, cwd=self.python.parent)


def cache_dir() -> Path:
    root = os.environ.get("LSTM_EDGE_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or
                                                              os.path.expanduser("~/.cache"), "lstm-edge")
    return Path(root) / "aarch64"


def prerequisites() -> str:
    """qemu-aarch64-static's version line; a missing prerequisite is exit 2 with the command that provides it."""
    missing = []
    qemu = shutil.which("qemu-aarch64-static")
    if qemu is None:
        missing.append("qemu-aarch64-static (Debian package qemu-user-static)")
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        raise EnvironmentFault("the aarch64 environment is built from Debian's arm64 packages, and this host has no "
                               "apt-get/dpkg", hint="run lstm-edge device-check on a Debian or Ubuntu host")
    archs = subprocess.run(["dpkg", "--print-foreign-architectures"], capture_output=True, text=True).stdout.split()
    if "arm64" not in archs or subprocess.run(["apt-cache", "show", "python3.11-minimal:arm64"],
                                              capture_output=True).returncode != 0:
        missing.append("the arm64 package architecture (dpkg --add-architecture arm64, then apt-get update)")
    if missing:
        raise EnvironmentFault("device-check --arch aarch64 needs " + " and ".join(missing),
                               hint=f"once, as root: {SETUP}   (or: sudo make setup-arm64)")
    out = subprocess.run([qemu, "--version"], capture_output=True, text=True).stdout.splitlines()
    return out[0].replace("qemu-aarch64 version ", "qemu-aarch64 ").split(" (")[0] if out else "qemu-aarch64"


def build(cache: Path | None = None, *, say=print) -> Guest:
    """The guest, built or brought up to date (each part checked against its stamp)."""
    cache = Path(cache or cache_dir()).resolve()
    qemu = prerequisites()
    cache.mkdir(parents=True, exist_ok=True)
    sysroot, site = cache / "sysroot", cache / "site"
    _sysroot(sysroot, say)
    (sysroot / "proc").mkdir(exist_ok=True)
    (sysroot / "proc" / "cpuinfo").write_text(CPUINFO)
    _wheels(site, say)
    _project(site, cache, say)
    lock = {"emulator": f"{qemu} -cpu {CPU}", "debs": json.loads((sysroot / ".lstm-edge-debs.json").read_text()),
            "wheels": json.loads((site / ".lstm-edge-wheels.json").read_text()),
            "lstm-edge": (site / ".lstm-edge-project").read_text()}
    guest = Guest(cache / "bin" / "python", lock["emulator"], lock)
    _launcher(guest, sysroot, site)
    return guest


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _stamped(directory: Path, want: str) -> bool:
    stamp = directory / ".lstm-edge-stamp"
    return stamp.is_file() and stamp.read_text() == want


def _stamp(directory: Path, want: str) -> None:
    (directory / ".lstm-edge-stamp").write_text(want)


def _sysroot(sysroot: Path, say) -> None:
    names = [f"{d}:arm64" for d in DEBS]
    policy = subprocess.run(["apt-cache", "policy", *names], capture_output=True, text=True, check=True).stdout
    versions, name = [], None
    for line in policy.splitlines():
        if line and not line.startswith(" "):
            name = line.rstrip(":")
        elif line.strip().startswith("Candidate:"):
            versions.append(f"{name}={line.split(':', 1)[1].strip()}")
    if len(versions) != len(DEBS) or any(v.endswith("(none)") for v in versions):
        raise EnvironmentFault(f"apt has no arm64 candidate for some of {', '.join(DEBS)}",
                               hint=f"as root: {SETUP}")
    want = "\n".join(versions)
    if _stamped(sysroot, want) and (sysroot / ".lstm-edge-debs.json").is_file():
        return
    say(f"aarch64: downloading {len(DEBS)} Debian arm64 packages (python3.11 and its libraries) into {sysroot}")
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run(["apt-get", "download", "-q", *names], cwd=tmp, capture_output=True, text=True)
        debs = sorted(Path(tmp).glob("*.deb"))
        if r.returncode != 0 or len(debs) != len(DEBS):
            raise EnvironmentFault(f"apt-get download of the arm64 packages failed: {(r.stderr.strip() or r.stdout)[-300:]}",
                                   hint="check that the Debian mirrors are reachable (apt-get update)")
        shutil.rmtree(sysroot, ignore_errors=True)
        for deb in debs:
            subprocess.run(["dpkg", "-x", str(deb), str(sysroot)], check=True)
        hashes = {deb.name: _sha256(deb) for deb in debs}
    for junk in ("usr/share/doc", "usr/share/man", "usr/share/lintian"):
        shutil.rmtree(sysroot / junk, ignore_errors=True)
    (sysroot / ".lstm-edge-debs.json").write_text(json.dumps(hashes, indent=1, sort_keys=True))
    _stamp(sysroot, want)


def _wheels(site: Path, say) -> None:
    from importlib import metadata

    pins = []
    for dist in RUNTIMES:                      # the host's versions: the cross-architecture figures compare like with like
        try:
            pins.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            raise EnvironmentFault(f"{dist} is not installed on this host, so its aarch64 version cannot be matched",
                                   hint="pip install lstm-edge (brings onnxruntime and ai-edge-litert)") from None
    want = " ".join(pins + list(PLATFORMS))
    if _stamped(site, want) and (site / ".lstm-edge-wheels.json").is_file():
        return
    say(f"aarch64: installing the aarch64 wheels of {', '.join(pins)} into {site}")
    new, wheels = site.with_name("site.new"), site.with_name("wheels")
    shutil.rmtree(new, ignore_errors=True)
    shutil.rmtree(wheels, ignore_errors=True)
    target = ["--python-version", "3.11", "--implementation", "cp", "--abi", "cp311", "--only-binary=:all:",
              *(a for p in PLATFORMS for a in ("--platform", p))]
    # downloaded first, so the exact files (dependencies included) are hashed, then installed from them alone
    for cmd in ([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "-d", str(wheels),
                 *target, *pins],
                [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-index",
                 "--find-links", str(wheels), "--target", str(new), *target, *pins]):
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise EnvironmentFault(f"pip could not {cmd[3]} aarch64 wheels of {', '.join(pins)}: {r.stderr.strip()[-400:]}",
                                   hint="the package index must be reachable; these versions must have aarch64 wheels")
    hashes = {w.name: _sha256(w) for w in sorted(wheels.glob("*.whl"))}
    shutil.rmtree(site, ignore_errors=True)
    new.rename(site)
    (site / ".lstm-edge-wheels.json").write_text(json.dumps(hashes, indent=1, sort_keys=True))
    _stamp(site, want)


SOURCE_PARTS = ("pyproject.toml", "setup.py", "README.md", "lstm_edge", "runtime", "converters")


def _project(site: Path, cache: Path, say) -> None:
    """lstm-edge itself, as the host has it: its wheel built from the source tree of an editable install
    (from a copy: pip builds in place), or the installed package copied as it is (pure Python either way)."""
    from importlib import metadata

    pkg = Path(__file__).resolve().parents[1]            # lstm_edge/ (this file is lstm_edge/emulate/aarch64.py)
    source = pkg.parent if all((pkg.parent / p).exists() for p in SOURCE_PARTS) else None
    roots = [source / p for p in SOURCE_PARTS] if source else [pkg]
    digest = hashlib.sha256()
    for root in roots:
        for f in sorted([root] if root.is_file() else root.rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts:
                digest.update(f.relative_to(root.parent).as_posix().encode() + b"\0" + f.read_bytes())
    want = digest.hexdigest()
    stamp = site / ".lstm-edge-project"
    if stamp.is_file() and stamp.read_text() == want:
        return
    for old in [site / "lstm_edge", *site.glob("lstm_edge-*.dist-info")]:
        shutil.rmtree(old, ignore_errors=True)
    if source is None:
        say(f"aarch64: copying the installed lstm-edge ({pkg}) into {site}")
        shutil.copytree(pkg, site / "lstm_edge", ignore=shutil.ignore_patterns("__pycache__"))
        dist = metadata.distribution("lstm-edge")
        for f in dist.files or []:
            if f.parts[0].endswith(".dist-info"):
                (site / f).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(dist.locate_file(f), site / f)
    else:
        say(f"aarch64: building lstm-edge's wheel from {source} and installing it into {site}")
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "src"
            for part in SOURCE_PARTS:
                src = source / part
                (shutil.copytree(src, copy / part, ignore=shutil.ignore_patterns("__pycache__")) if src.is_dir()
                 else (copy.mkdir(exist_ok=True), shutil.copy2(src, copy / part)))
            r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                                str(Path(tmp) / "wheel"), str(copy)], capture_output=True, text=True)
            if r.returncode != 0:
                raise EnvironmentFault(f"building lstm-edge's wheel failed: {r.stderr.strip()[-400:]}")
            (wheel,) = (Path(tmp) / "wheel").glob("lstm_edge-*.whl")
            r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
                                "--target", str(site), "--upgrade", str(wheel)], capture_output=True, text=True)
            if r.returncode != 0:
                raise EnvironmentFault(f"installing lstm-edge's wheel for aarch64 failed: {r.stderr.strip()[-400:]}")
    stamp.write_text(want)


def _launcher(guest: Guest, sysroot: Path, site: Path) -> None:
    """CACHE/bin/python: qemu with the sysroot, argv[0] = itself (so children come back through it)."""
    import shlex

    qemu = shutil.which("qemu-aarch64-static")
    q = shlex.quote
    text = f"""#!/bin/sh
# an aarch64 python3.11 under qemu-user, written by lstm-edge (lstm_edge/emulate/aarch64.py)
export PYTHONHOME={q(str(sysroot / 'usr'))}
export {q("LSTM_EDGE_EMULATED")}={q(guest.emulator)}
case ":${{PYTHONPATH:-}}:" in *:{q(str(site))}:*) ;; *) export PYTHONPATH={q(str(site))}${{PYTHONPATH:+:$PYTHONPATH}};; esac
exec {q(qemu)} -L {q(str(sysroot))} -cpu {CPU} -0 {q(str(guest.python))} {q(str(sysroot / 'usr/bin/python3.11'))} "$@"
"""
    guest.python.parent.mkdir(parents=True, exist_ok=True)
    if not guest.python.is_file() or guest.python.read_text() != text:
        tmp = guest.python.with_suffix(".new")
        tmp.write_text(text)
        tmp.chmod(0o755)
        tmp.replace(guest.python)
