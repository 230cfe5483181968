"""`lstm-edge device-check BUNDLE --arch aarch64`: the device harness (`python -m lstm_edge.runtime verify`)
run on another architecture, emulated (aarch64.py), and what it found set beside the host's figures.

    device-check BUNDLE --arch aarch64 [--bench] [--json F] [--junit-xml F]

The guest judges every artefact exactly as a device does (its parent's golden outputs, the bundle's
budgets, the task metric); a miss is a failure naming the artefact and the architecture (exit 1). Beside
the verdict, the cross-architecture figure: max |Δ| of each artefact's outputs on aarch64 against the
same artefact's outputs in the bundle's golden file, which the host that built the bundle computed (x86-64
here). Where BUNDLE sits in a pipeline's output directory, the result is kept as OUT/device-<arch>.json and
report.md gains its "Cross-architecture" section (report.py re-renders it from that file on every verify,
marked stale once the bundle changes). `--bench` runs the harness's bench there too: emulated figures are
recorded as "emulated, not a latency" and never compared.
"""
from __future__ import annotations

import hashlib
import json
import tempfile
import time
from pathlib import Path

from lstm_edge.errors import EnvironmentFault, ParityError

ARCHES = ("aarch64",)
MARK = "<!-- cross-arch -->"


def device_check(bundle: Path, arch: str, *, bench: bool = False, junit_xml: Path | None = None,
                 cache: Path | None = None, say=print) -> dict:
    """→ the result document (also written beside the bundle's report, see above); exit 1 on a miss."""
    from lstm_edge.emulate import aarch64
    from lstm_edge.runtime.harness.bundle_files import open_bundle

    bundle = Path(bundle).resolve()
    open_bundle(bundle)                 # a broken bundle is named here, on the host, before anything is emulated
    guest = aarch64.build(cache, say=say)
    say(f"{arch}: python -m lstm_edge.runtime verify {bundle} under {guest.emulator} (one child per artefact)")
    with tempfile.TemporaryDirectory() as tmp:
        found = Path(tmp) / "device.json"
        args = ["-m", "lstm_edge.runtime", "verify", bundle, "--json", found]
        args += ["--junit-xml", Path(junit_xml).resolve()] if junit_xml else []
        t0 = time.perf_counter()
        r = guest.run(args, timeout=7200)
        seconds = time.perf_counter() - t0
        if not found.is_file():          # the harness stopped before judging (exit 2: nothing can run there …)
            raise EnvironmentFault(f"the device harness on {arch} stopped (exit {r.returncode}): "
                                   f"{(r.stderr.strip().splitlines() or ['no output'])[-1][:400]}")
        device = json.loads(found.read_text())
        bench_doc = None
        if bench:
            out = Path(tmp) / "bench.json"
            b = guest.run(["-m", "lstm_edge.runtime", "bench", bundle, "--out", out, "--warmup", "2",
                           "--iterations", "10"], timeout=7200)
            if b.returncode != 0:
                raise EnvironmentFault(f"bench on {arch} failed: {(b.stderr.strip().splitlines() or [''])[-1][:400]}")
            bench_doc = json.loads(out.read_text())
    doc = {"arch": arch, "emulated": guest.emulator, "environment": device.get("environment"),
           "bundle": str(bundle), "manifest_sha256": _manifest_sha(bundle), "seconds": round(seconds, 1),
           "passed": bool(device["passed"]), "artifacts": device["artifacts"], "bench": bench_doc,
           "built_from": guest.lock}
    out_dir = bundle.parent
    if (out_dir / "report.json").is_file():
        (out_dir / f"device-{arch}.json").write_text(json.dumps(doc, indent=2) + "\n")
        _update_report(out_dir)
    return doc


def _manifest_sha(bundle: Path) -> str:
    return hashlib.sha256((Path(bundle) / "manifest.json").read_bytes()).hexdigest()


def rows(doc: dict) -> list[list[str]]:
    def num(v):
        return "—" if v is None else f"{v:.2e}"

    out = []
    for a in doc["artifacts"]:
        metric = "—" if a.get("metric") is None else f"{a['metric']:.5g}"
        verdict = a["status"] if a["status"] in ("pass", "FAIL") else f"{a['status']}: {a.get('reason', '')}"
        out.append([a["file"], a["runtime"], a["precision"], num(a.get("vs_host")), metric, num(a.get("vs_parent")),
                    verdict])
    return out


HEADER = ["artefact", "runtime", "precision", "max abs Δ vs the host's run", "metric there", "max abs Δ vs parent",
          "verdict"]


def failures(doc: dict) -> list[str]:
    """Each miss, naming the artefact and the architecture."""
    found = []
    for a in doc["artifacts"]:
        if a["status"] == "FAIL":
            found += [f"{doc['arch']}: {a['file']}: {f}" for f in a.get("failures", [])]
        elif a["status"] == "CRASH":
            found.append(f"{doc['arch']}: {a['file']}: the runtime crashed ({a.get('reason', '')})")
    return found


def judge(doc: dict) -> None:
    missed = failures(doc)
    if missed:
        raise ParityError(f"{len(missed)} check(s) failed on {doc['arch']} ({doc['emulated']}): " + "; ".join(missed[:6]),
                          hint="the artefact computes differently on this architecture beyond its budget")


def markdown(doc: dict, *, stale: bool = False) -> str:
    env = doc.get("environment") or {}
    lines = [f"## Cross-architecture: {doc['arch']}", "",
             f"The device harness on {env.get('machine', doc['arch'])} ({env.get('cpu', '?')}, Python "
             f"{env.get('python', '?')}, onnxruntime {env.get('onnxruntime')}, ai-edge-litert {env.get('ai-edge-litert')}), "
             f"emulated by {doc['emulated']}, {doc['seconds']:.0f} s: every artefact judged against its parent's golden "
             "outputs with its budget, and compared with the host's own run of it (the golden file, computed where the "
             f"bundle was built). Verdict: **{'PASS' if doc['passed'] else 'FAIL'}**."]
    if stale:
        lines += ["", "**Stale:** the bundle changed after this check; run `lstm-edge device-check` again."]
    lines += ["", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in rows(doc)]
    lines += [f"- {f}" for f in failures(doc)]
    if doc.get("bench"):
        lines += ["", "Bench there (emulated, not a latency; not compared with any device):", "",
                  "| artefact | sequence p50 ms | step p50 ms |", "|---|---|---|"]
        for r in doc["bench"]["results"]:
            if "skipped" not in r:
                step = r.get("step") or {}
                lines.append(f"| {r['artifact']} | {r['sequence']['p50_ms']:.3f} | "
                             f"{step['p50_ms']:.3f} |" if step else f"| {r['artifact']} | {r['sequence']['p50_ms']:.3f} | — |")
    return "\n".join(lines) + "\n"


def sections(out_dir: Path) -> str:
    """report.md's cross-architecture sections, from OUT/device-*.json ("" when there is none)."""
    parts = []
    for path in sorted(Path(out_dir).glob("device-*.json")):
        try:
            doc = json.loads(path.read_text())
            stale = not (Path(out_dir) / "bundle" / "manifest.json").is_file() or \
                _manifest_sha(Path(out_dir) / "bundle") != doc.get("manifest_sha256")
            parts.append(markdown(doc, stale=stale))
        except (ValueError, KeyError, TypeError, OSError) as e:     # a damaged record is said, not fatal to verify
            parts.append(f"## Cross-architecture\n\n{path.name} could not be read ({type(e).__name__}: {e}).\n")
    return (MARK + "\n" + "\n".join(parts)) if parts else ""


def _update_report(out_dir: Path) -> None:
    from lstm_edge.files import write_bytes_atomic

    report = out_dir / "report.md"
    if not report.is_file():
        return
    text = report.read_text(encoding="utf-8").split(MARK)[0].rstrip("\n") + "\n\n"
    write_bytes_atomic(report, (text + sections(out_dir)).encode())


def publish_github(doc: dict, model: str, *, echo=print) -> None:
    """Under GitHub Actions, as verify does (lstm_edge/verify/github.py): the section appended to the step
    summary (failures first), one ::error annotation per miss."""
    import os

    from lstm_edge.verify.github import _escape

    target = os.environ.get("GITHUB_STEP_SUMMARY")
    missed = failures(doc)
    if target:
        head = [f"### lstm-edge {model} on {doc['arch']}: {'PASS' if doc['passed'] else 'FAIL'}", ""]
        head += [f"- {f}" for f in missed] + ([""] if missed else [])
        with open(target, "a", encoding="utf-8") as f:
            f.write("\n".join(head) + "\n<details><summary>every artefact</summary>\n\n" + markdown(doc) + "\n</details>\n")
    title = _escape(f"lstm-edge {model}: {doc['arch']}", prop=True)
    for m in missed:
        echo(f"::error title={title}::{_escape(m)}")
