"""Reading a device bundle: the manifest, its files and the golden vectors, each checked first.

A bundle is a directory (or a .tar.gz of one) holding

    manifest.json   what is here: every file's sha256, the model, its I/O, budgets, versions
    golden.npz      inputs and the host's outputs (PyTorch and every bundled stage), tied to
                    the model's hash
    *.onnx / *.ort / *.tflite   the artefacts
    required_operators.config   the ops a minimal onnxruntime build needs for the .ort files
    README.md       how to check it on the device

Order of checks, so nothing unverified is ever parsed by a native runtime: the manifest's
own digest → every path stays inside the bundle (no absolute paths, no "..", no links:
exit 4) → every file's size and sha256 (exit 3, naming the file) → the golden vectors
belong to this model (exit 3).
"""
from __future__ import annotations

import hashlib
import json
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from lstm_edge.errors import InvalidInputError, SecurityRefusal, UsageError

SCHEMA = "lstm-edge-bundle/1"
MANIFEST = "manifest.json"
GOLDEN = "golden.npz"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest_digest(manifest: dict) -> str:
    """sha256 of the manifest's content without its own digest field (canonical JSON)."""
    body = {k: v for k, v in manifest.items() if k != "content_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"),
                                     ensure_ascii=False).encode()).hexdigest()


@dataclass
class Bundle:
    root: Path
    manifest: dict
    golden: dict[str, np.ndarray] = field(repr=False)

    @property
    def artifacts(self) -> list[dict]:
        return self.manifest["artifacts"]

    @property
    def cases(self) -> list[str]:
        return list(self.manifest["golden"]["cases"])

    def inputs(self, case: str) -> dict[str, np.ndarray]:
        return {k: self.golden[f"{case}.{k}"] for k in ("x", "lengths", "h0", "c0")      # a GRU has no c0; lengths:
                if f"{case}.{k}" in self.golden}                                          # forward(x, lengths)

    def outputs(self, stage: str, case: str) -> dict[str, np.ndarray]:
        prefix = f"{stage}.{case}."
        return {k[len(prefix):]: v for k, v in self.golden.items() if k.startswith(prefix)}

    def artifact(self, name: str) -> dict:
        """The manifest entry of `name` (file or stage); a name not in the bundle is a usage error (2),
        as an unknown --artifact is for lstm-edge."""
        for a in self.artifacts:
            if name in (a["file"], a["stage"]):
                return a
        raise UsageError(f"{self.root}: no artefact '{name}' in this bundle",
                         hint=f"choose one of {[a['file'] for a in self.artifacts]}")


def open_bundle(path: str | Path) -> Bundle:
    """The bundle at `path` (directory or .tar.gz), after every check above."""
    path = Path(path)
    if not path.exists():
        raise InvalidInputError(f"{path}: no such bundle", hint="copy the whole bundle directory (or its .tar.gz)")
    if path.is_dir():
        root = path
    else:   # the extraction lives as long as the process: runners open the files later
        import atexit
        import shutil

        scratch = Path(tempfile.mkdtemp(prefix="lstm-edge-bundle-"))
        atexit.register(shutil.rmtree, scratch, True)
        root = _extract(path, scratch)
    manifest = _read_manifest(root)
    for name, entry in manifest["files"].items():
        check_file(root, name, entry)
    golden = _read_golden(root, manifest)
    return Bundle(root, manifest, golden)


def _read_manifest(root: Path) -> dict:
    path = root / MANIFEST
    if not path.is_file():
        raise InvalidInputError(f"{root}: no {MANIFEST}: this is not an lstm-edge bundle",
                                hint="make one with: lstm-edge bundle DIR --out BUNDLE")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InvalidInputError(f"{path}: not valid JSON ({e}): the manifest is corrupt",
                                hint="copy the bundle again from the host")
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA:
        got = manifest.get("schema") if isinstance(manifest, dict) else type(manifest).__name__
        raise InvalidInputError(f"{path}: schema {got!r}, expected {SCHEMA!r}",
                                hint="re-bundle with the lstm-edge version installed here")
    if manifest.get("content_sha256") != manifest_digest(manifest):
        raise InvalidInputError(f"{path}: content digest does not match: the manifest is corrupt or was edited",
                                hint="copy the bundle again from the host")
    problems = schema_problems(manifest)
    if problems:
        raise InvalidInputError(f"{path}: {'; '.join(problems[:5])}",
                                hint="re-bundle with: lstm-edge bundle DIR --out BUNDLE")
    return manifest


ARTIFACT_KEYS = ("file", "stage", "parent", "runtime", "precision", "outputs", "budget")


def schema_problems(manifest: dict) -> list[str]:
    """What a manifest lacks; above all, any file it would use without a hash for it."""
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(isinstance(e, dict) and {"sha256", "size_bytes"} <= set(e)
                                              for e in files.values()):
        return ["'files' must map each file to its sha256 and size_bytes"]
    problems = []
    if not isinstance(manifest.get("model"), dict) or "weights_sha256" not in manifest["model"]:
        problems.append("'model.weights_sha256' is missing")
    if not isinstance(manifest.get("golden"), dict) or not manifest["golden"].get("cases"):
        problems.append("'golden.cases' is missing")
    if GOLDEN not in files:
        problems.append(f"{GOLDEN} is not listed with a hash")
    artifacts = manifest.get("artifacts")
    if not isinstance(artifacts, list) or not artifacts:
        return problems + ["'artifacts' must be a non-empty list"]
    for k, a in enumerate(artifacts):
        missing = [key for key in ARTIFACT_KEYS if not isinstance(a, dict) or key not in a]
        if missing:
            problems.append(f"artifacts[{k}] lacks {missing}")
        elif a["file"] not in files:
            problems.append(f"artefact {a['file']!r} is not listed with a hash: it would be loaded unverified")
        elif a["runtime"] not in ("onnxruntime", "litert"):
            problems.append(f"artefact {a['file']!r}: unknown runtime {a['runtime']!r}")
    return problems


def safe_path(root: Path, name: str) -> Path:
    """root/name, refusing anything that could point outside the bundle (exit 4)."""
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or not p.parts or "\\" in name:
        raise SecurityRefusal(f"{root / MANIFEST}: file entry {name!r} is not a plain relative path inside the bundle",
                              hint="bundles hold relative paths only; this manifest was not written by lstm-edge")
    full = root.joinpath(*p.parts)
    if full.is_symlink() or any(q.is_symlink() for q in full.parents if q != root and root in q.parents):
        raise SecurityRefusal(f"{full}: is a symbolic link; a bundle's files must be regular files inside it",
                              hint="copy the bundle with links resolved (cp -rL)")
    return full


def check_file(root: Path, name: str, entry: dict) -> Path:
    full = safe_path(root, name)
    if not full.is_file():
        raise InvalidInputError(f"{full}: listed in the manifest but missing", hint="copy the whole bundle directory")
    size = full.stat().st_size
    if size != entry["size_bytes"]:
        raise InvalidInputError(f"{full}: {size} bytes, the manifest says {entry['size_bytes']}: "
                                "the file is truncated or was replaced", hint="copy the bundle again from the host")
    actual = sha256_file(full)
    if actual != entry["sha256"]:
        raise InvalidInputError(f"{full}: sha256 {actual[:16]}… does not match the manifest's "
                                f"{entry['sha256'][:16]}…: the file is corrupt or was replaced",
                                hint="copy the bundle again from the host")
    return full


def _read_golden(root: Path, manifest: dict) -> dict[str, np.ndarray]:
    from lstm_edge.runtime.sniff import read_npz

    golden = read_npz(root / GOLDEN)   # hash-checked above, so only a bundling bug lands here
    path = root / GOLDEN
    want = manifest["model"]["weights_sha256"]
    got = str(golden.get("model_sha256", np.array("none")))
    if got != want:
        raise InvalidInputError(f"{path}: golden vectors were made for model {got[:16]}…, but this bundle's model is "
                                f"{want[:16]}…", hint="re-bundle: the golden vectors must come from the bundled model")
    return golden


def _extract(archive: Path, dest: Path) -> Path:
    """Unpack a bundle archive, member by member: regular files and directories only, every
    name relative and inside `dest` (a tar can name '../../x' or carry links)."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for m in members:
                if not (m.isfile() or m.isdir()):
                    raise SecurityRefusal(f"{archive}: member {m.name!r} is a link or device, not a file",
                                          hint="bundle archives hold regular files only")
                safe_path(dest, m.name)
            for m in members:
                target = dest.joinpath(*PurePosixPath(m.name).parts)
                if m.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(m) as src, open(target, "wb") as out:
                    out.write(src.read())
    except (tarfile.TarError, EOFError, OSError) as e:
        raise InvalidInputError(f"{archive}: not a readable bundle archive: {e}",
                                hint="pass the bundle directory, or a .tar.gz made by lstm-edge bundle --archive")
    tops = {PurePosixPath(m.name).parts[0] for m in members if PurePosixPath(m.name).parts}
    if len(tops) == 1 and (dest / next(iter(tops))).is_dir():   # archive of one top directory
        return dest / next(iter(tops))
    return dest
