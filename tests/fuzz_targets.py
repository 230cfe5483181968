"""The fuzz loop's child: mutate one real file one relation at a time, feed it to its loader.

    python tests/fuzz_targets.py TARGET SOURCE_DIR WORK_DIR ITERATIONS SEED

Prints "start K" before and "done K OUTCOME" after each mutation (OUTCOME: ok, or the exit
code of the typed error). A crash (signal) or hang kills this process; the parent then knows
the mutation that did it from the last "start" line and the input is left in WORK_DIR.
An untyped exception is printed as "done K bug:…" — also a failure.

Targets and what counts as correct:
  onnx, tflite   open_runner + run: ok (a mutation in weight bytes is still a model) or exit 3/4
  safetensors    load_checkpoint, hash updated so the parser is reached: ok or exit 3/4
  manifest       open_bundle: exit 3/4, or ok only if the JSON content is unchanged
  npz            open_bundle + verify with golden.npz mutated and re-hashed: ok, 1 or 3
  csv            load_csv: ok or exit 3
"""
from __future__ import annotations

import json
import random
import shutil
import sys
from pathlib import Path

import numpy as np

INTERESTING = (0, 1, 0x7F, 0x80, 0xFF)


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One change: a bit, a byte, a 32-bit word, a cut, a splice or a duplication."""
    b = bytearray(data)
    n = len(b)
    kind = rng.choice(["bit", "byte", "word", "truncate", "insert", "delete", "duplicate"])
    i = rng.randrange(max(1, n))
    if kind == "bit" and n:
        b[i] ^= 1 << rng.randrange(8)
    elif kind == "byte" and n:
        b[i] = rng.choice(INTERESTING)
    elif kind == "word" and n >= 4:
        i = rng.randrange(n - 3) & ~3
        b[i:i + 4] = rng.choice([0, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, n, n + 8]).to_bytes(4, "little")
    elif kind == "truncate":
        del b[i:]
    elif kind == "insert":
        b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
    elif kind == "delete":
        del b[i:i + rng.randrange(1, 16)]
    elif kind == "duplicate":
        j = rng.randrange(max(1, n))
        b[i:i] = b[j:j + rng.randrange(1, 64)]
    return bytes(b), f"{kind}@{i}"


def rehash_manifest(bundle: Path) -> None:
    from lstm_edge.runtime.harness.bundle_files import MANIFEST, manifest_digest, sha256_file

    m = json.loads((bundle / MANIFEST).read_text())
    for name in m["files"]:
        m["files"][name] = {"sha256": sha256_file(bundle / name), "size_bytes": (bundle / name).stat().st_size}
    m["content_sha256"] = manifest_digest(m)
    (bundle / MANIFEST).write_text(json.dumps(m))


def run_one(target: str, src: Path, work: Path, data: bytes) -> str:
    from lstm_edge.errors import LstmEdgeError

    try:
        if target in ("onnx", "tflite"):
            from lstm_edge.runtime import open_runner

            path = work / f"fuzzed.{target}"
            path.write_bytes(data)
            r = open_runner(path, in_process=True)
            x = np.zeros((1, 3, 4), np.float32)
            L, _, H = r.expected["h0"]
            r.run({"x": x[:, :r.expected["x"][1] or 3], "h0": np.zeros((L, 1, H), np.float32),
                   "c0": np.zeros((L, 1, H), np.float32)})
        elif target == "safetensors":
            from lstm_edge.train.checkpoint import load_checkpoint
            from lstm_edge.runtime.harness.bundle_files import sha256_file

            (work / "model.safetensors").write_bytes(data)
            meta = json.loads((src / "model.json").read_text())
            meta["weights_sha256"] = sha256_file(work / "model.safetensors")
            (work / "model.json").write_text(json.dumps(meta))
            load_checkpoint(work)
        elif target == "manifest":
            from lstm_edge.runtime.harness.bundle_files import open_bundle

            (work / "bundle" / "manifest.json").write_bytes(data)
            open_bundle(work / "bundle")
            try:
                same = json.loads(data) == json.loads((src / "bundle" / "manifest.json").read_bytes())
            except ValueError:
                same = False
            return "ok" if same else "accepted-changed-manifest"
        elif target == "npz":
            from lstm_edge.runtime.harness.bundle_files import open_bundle
            from lstm_edge.runtime.harness.verify import verify_bundle

            (work / "bundle" / "golden.npz").write_bytes(data)
            rehash_manifest(work / "bundle")
            checks = verify_bundle(open_bundle(work / "bundle"))
            return "1" if any(c.status == "FAIL" for c in checks) else "ok"
        elif target == "csv":
            from lstm_edge.data.csv_loader import load_csv

            (work / "data.csv").write_bytes(data)
            load_csv(work / "data.csv", targets=["temperature"])
        return "ok"
    except LstmEdgeError as e:
        return str(e.exit_code)
    except Exception as e:   # an untyped error is a bug: the user would see a traceback or "internal error"
        import traceback

        frame = traceback.extract_tb(e.__traceback__)[-1]
        (work / f"bug-input-{type(e).__name__}").write_bytes(data)
        return f"bug:{type(e).__name__}:{str(e)[:120]} at {Path(frame.filename).name}:{frame.lineno}"


def seed_file(target: str, src: Path, work: Path) -> bytes:
    if target == "onnx":
        return (src / "onnx-fp32.onnx").read_bytes()
    if target == "tflite":
        return (src / "tflite-fp32.tflite").read_bytes()
    if target == "safetensors":
        for name in ("test_set.npz", "val_set.npz", "calibration.npz"):
            shutil.copy(src / name, work / name)
        return (src / "model.safetensors").read_bytes()
    if target in ("manifest", "npz"):
        shutil.copytree(src / "bundle", work / "bundle", dirs_exist_ok=True)
        return (src / "bundle" / ("manifest.json" if target == "manifest" else "golden.npz")).read_bytes()
    if target == "csv":
        rows = ["time,temperature,humidity"] + [f"{t},{15 + t % 7 * 0.5},{60 + t % 5}" for t in range(120)]
        return ("\n".join(rows) + "\n").encode()
    raise SystemExit(f"unknown target {target}")


def main() -> None:
    target, src, work, iterations, seed = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    work.mkdir(parents=True, exist_ok=True)
    original = seed_file(target, src, work)
    rng = random.Random(seed)
    for k in range(iterations):
        data, how = mutate(original, rng)
        (work / "current-input").write_bytes(data)
        print(f"start {k} {how}", flush=True)
        print(f"done {k} {run_one(target, src, work, data)}", flush=True)
        if target in ("manifest", "npz"):          # restore what the mutation touched
            shutil.copytree(src / "bundle", work / "bundle", dirs_exist_ok=True)


if __name__ == "__main__":
    main()
