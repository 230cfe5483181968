"""Files on disk: atomic writes, hashes, and the JSON sidecar every artefact carries.

Each stage hands the next a file plus `<file>.json`: what it is, its parent, its sha256,
its I/O names, and what it cannot expose. A write goes to a temporary file in the same
directory, is fsynced, then renamed into place: a reader sees the old file or the new one,
never half of one.
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from lstm_edge.errors import EnvironmentFault, InvalidInputError
from lstm_edge.runtime.harness.bundle_files import sha256_file   # one implementation, shared with the device


def write_bytes_atomic(path: Path, data: bytes) -> None:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            os.fchmod(fd, umask_mode(0o666))   # mkstemp makes 0600; a published file gets the usual umask mode
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:
        raise EnvironmentFault(f"cannot write {path}: {e.strerror or e}",
                               hint="check free disk space and write permission of the output directory")


def write_json_atomic(path: Path, obj) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode())


def read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(f"{path} does not exist")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InvalidInputError(f"{path} is not valid JSON: {e}")


def sidecar_path(artifact: Path) -> Path:
    return artifact.with_name(artifact.name + ".json")


def write_sidecar(artifact: Path, info: dict) -> dict:
    """Record what `artifact` is; the hash is taken from the bytes now on disk."""
    info = dict(info, artifact=artifact.name, sha256=sha256_file(artifact), size_bytes=artifact.stat().st_size)
    write_json_atomic(sidecar_path(artifact), info)
    return info


def read_sidecar(artifact: Path) -> dict:
    """The sidecar of `artifact`, after checking the artefact's bytes still match it."""
    info = read_json(sidecar_path(artifact))
    actual = sha256_file(artifact)
    if actual != info.get("sha256"):
        raise InvalidInputError(f"{artifact}: sha256 {actual[:16]}… does not match its sidecar "
                                f"({str(info.get('sha256'))[:16]}…): the file is corrupt or was replaced",
                                hint="re-run lstm-edge export on this directory")
    return info


def list_artifacts(directory: Path) -> list[Path]:
    """Every artefact in `directory` that has a sidecar, in a stable order."""
    return sorted(p.with_suffix("") for p in Path(directory).glob("*.json")
                  if p.with_suffix("").exists() and p.name not in ("model.json", "report.json"))


@contextmanager
def staged_output(out: Path):
    """Build `out` in a staging directory and swap it into place only if the block succeeds.

    While it runs, `out` is locked against a second lstm-edge writer (exit 5, naming the pid):
    the lock only gives a clear message; correctness rests on the atomic swap. On any error
    or signal the staging directory goes and the previous `out` stays byte-identical; after a
    kill -9, the next run into `out` sweeps what the dead one left."""
    import shutil

    with output_lock(Path(out)):
        staging = staging_dir(out)
        try:
            yield staging
            publish_dir(staging, out)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


@contextmanager
def output_lock(out: Path):
    import fcntl

    out.parent.mkdir(parents=True, exist_ok=True)
    lock = out.parent / f".{out.name}.lock"
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise EnvironmentFault(f"cannot write beside {out}: {e.strerror or e}",
                               hint="check that the output's parent directory exists and is writable")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise EnvironmentFault(f"{out} is being written by another lstm-edge process (pid {holder})",
                               hint="wait for it to finish, or choose another --out")
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        lock.unlink(missing_ok=True)   # never left inside a tree that gets published
        os.close(fd)


def sweep_stale(out: Path) -> None:
    """Remove staging and old directories beside `out` whose process is gone (a kill -9 leaves them)."""
    import re
    import shutil

    pattern = re.compile(rf"^\.{re.escape(out.name)}\.(staging|old)-(\d+)-")
    for p in out.parent.iterdir() if out.parent.is_dir() else []:
        m = pattern.match(p.name)
        if m and p.is_dir() and not _alive(int(m.group(2))):
            shutil.rmtree(p, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def staging_dir(out: Path) -> Path:
    """A fresh, unique directory beside `out` (same filesystem, so publishing is a rename);
    its name carries our pid, so a later run can tell an orphan from a live one."""
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        sweep_stale(out)
        staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.staging-{os.getpid()}-"))
        staging.chmod(umask_mode(0o777))   # mkdtemp makes 0700; the published directory gets the umask mode
        return staging
    except OSError as e:
        raise EnvironmentFault(f"cannot create a staging directory beside {out}: {e.strerror or e}",
                               hint="check that the output's parent directory exists and is writable")


def publish_dir(staging: Path, out: Path) -> None:
    """Put `staging` in place of `out`: an atomic exchange where the kernel offers one."""
    import shutil

    staging, out = Path(staging), Path(out)
    for root, _, files in os.walk(staging):   # everything on disk before the rename
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                os.fsync(f.fileno())
    if out.exists() and not out.is_dir():
        raise EnvironmentFault(f"{out} exists and is not a directory", hint="choose another --out")
    if out.exists() and _exchange(staging, out):
        _fsync_dir(out.parent)
        shutil.rmtree(staging)          # staging now holds the previous output
        return
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-{os.getpid()}-"))
        os.rename(out, old / "previous")
    os.rename(staging, out)
    _fsync_dir(out.parent)
    if old is not None:
        shutil.rmtree(old)


def _fsync_dir(path: Path) -> None:
    """Make a rename durable: fsync the directory that holds the new name."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def umask_mode(base: int) -> int:
    """`base` with the process umask applied, as open() and mkdir() would."""
    mask = os.umask(0)
    os.umask(mask)
    return base & ~mask


def _exchange(a: Path, b: Path) -> bool:
    """renameat2(RENAME_EXCHANGE): swap two paths atomically (Linux ≥ 3.15). False if unavailable."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        at_fdcwd, rename_exchange = -100, 2
        return libc.renameat2(at_fdcwd, bytes(a), at_fdcwd, bytes(b), rename_exchange) == 0
    except (OSError, AttributeError):
        return False
