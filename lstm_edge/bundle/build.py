"""`lstm-edge bundle DIR --out BUNDLE`: everything a device needs to prove it runs the model CI passed.

DIR is a verified output directory (report.json present). The bundle gets:
- the chosen artefacts (default: every stage that passed verify) with their sidecars;
- an ORT-format twin of every ONNX artefact and the required-operators config of a
  minimal onnxruntime build;
- golden.npz (lstm_edge.bundle.golden) and manifest.json (below), a short README.md.

Checked where it is made: a TFLite artefact with a Flex or custom op fails the bundle
(exit 1, op named); then the device harness's own verify runs on the staged bundle, on this
host, and any miss fails it (exit 1) — so every bundle published has passed the check the
device will run. Built in a staging directory, published by an atomic rename.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from lstm_edge.files import read_json, read_sidecar, sha256_file, staged_output, write_json_atomic, write_sidecar
from lstm_edge.errors import ParityError, UsageError
from lstm_edge.runtime.harness.bundle_files import GOLDEN, MANIFEST, SCHEMA, manifest_digest

DEVICE_FORMATS = {"onnx": "onnxruntime", "ort": "onnxruntime", "tflite": "litert"}


class NotDeployable(ParityError):
    """An artefact the device runtime cannot run as built (a Flex op): exit 1."""

    kind = "not deployable"


def bundle(directory: Path, out: Path, *, artifacts: list[str] | None = None, archive: bool = False,
           progress=None) -> dict:
    """Write the bundle; → its manifest. Nothing is published unless the bundle verifies."""
    from lstm_edge.source import open_source

    directory, out = Path(directory), Path(out)
    say = progress or (lambda msg: None)
    if not (directory / "report.json").exists():
        raise UsageError(f"{directory}: no report.json", hint=f"run lstm-edge verify {directory} first")
    report = read_json(directory / "report.json")
    source = open_source(directory)                                  # hashes checked
    task = source.task
    chosen = choose_stages(report, artifacts)
    metric = source.manifest_fields()["metric"]
    if metric.get("available") is False:     # a stage judged by the metric alone could not be judged on the device
        blind = [s["name"] for s in chosen if s["budget"].get("atol") is None]
        if blind:
            say(f"not bundled: {', '.join(blind)} — their budget is the metric alone, and {metric['why']}")
        chosen = [s for s in chosen if s["name"] not in blind]
        if not chosen:
            raise ParityError(f"nothing to bundle: every stage that passed is judged by the metric alone, and {metric['why']}",
                              hint="use a built-in metric or one that imports only numpy and the standard library")
    cases = source.golden_cases()
    with staged_output(out) as staging:
        for name, path in source.bundle_files().items():
            shutil.copyfile(path, staging / name)
        entries = stage_artifacts(directory, staging, chosen, source, say)
        say("golden vectors: PyTorch and every bundled stage on the golden cases")
        write_golden_file(directory, staging, entries, cases, source, task.scored_steps)
        for e in entries:
            if "cn" in e["outputs"] and task.name == "forecast":     # σ for `run`'s anomaly flags
                e["residual_sigma"] = _residual_sigma(staging / e["file"], directory, source.meta)
        (staging / "README.md").write_text(device_readme(source, entries))
        manifest = write_manifest(staging, source, entries, cases, report)
        say("checking the bundle as the device will: hashes, then golden vectors against the budgets")
        manifest = self_check(staging, manifest)
    if archive:
        write_archive(out)
    return manifest


def choose_stages(report: dict, names: list[str] | None) -> list[dict]:
    stages = [s for s in report["stages"] if s.get("artifact") and s["format"] in DEVICE_FORMATS]
    if not names:
        chosen = [s for s in stages if s["passed"]]
        if not chosen:
            raise ParityError("no artefact passed verify, so there is nothing to bundle",
                              hint="see report.md for the failures")
        return chosen
    chosen = []
    for n in names:
        match = [s for s in stages if n in (s["name"], s["artifact"])]
        if not match:
            raise UsageError(f"no artefact '{n}' in the report", hint=f"choose from {[s['artifact'] for s in stages]}")
        if not match[0]["passed"]:
            raise ParityError(f"{match[0]['artifact']} failed verify; a failed stage is never bundled",
                              hint="see report.md for its figures")
        chosen.append(match[0])
    return chosen


def stage_artifacts(directory: Path, staging: Path, chosen: list[dict], source, say) -> list[dict]:
    """Copy each artefact (hash-checked) and its sidecar; add op tables and ORT twins. → manifest entries."""
    from lstm_edge.converters.to_ort import CONFIG, required_operators, to_ort

    entries, ort_files = [], []
    for s in chosen:
        src = directory / s["artifact"]
        info = read_sidecar(src)
        shutil.copyfile(src, staging / src.name)
        write_sidecar(staging / src.name, {k: v for k, v in info.items() if k not in ("sha256", "size_bytes", "artifact")})
        entry = artifact_entry(src.name, s["name"], info, source.budget(s["parent"], s["name"]))
        if info["format"] == "tflite":
            from lstm_edge.converters.tflite_ops import op_table

            entry["ops"] = op_table(staging / src.name)
            if entry["ops"]["flex_ops"] or entry["ops"]["custom_ops"]:
                raise NotDeployable(f"{src}: needs op(s) {entry['ops']['custom_ops']} outside the builtin set "
                                    f"(Flex: {entry['ops']['flex_ops']}); the device's LiteRT cannot run it",
                                    hint="re-export with builtin ops only (TFLITE_BUILTINS)")
        if info["format"] == "onnx":
            entry["opset"] = onnx_opsets(src)
        entries.append(entry)
        if info["format"] == "onnx":
            say(f"{src.name}: ORT format for onnxruntime mobile")
            ort_path = to_ort(staging / src.name, staging / f"{src.stem}.ort")
            ort_info = {k: v for k, v in info.items() if k not in ("sha256", "size_bytes", "artifact", "attempts")}
            ort_info |= {"format": "ort", "source": s["name"], "optimization": "ORT_ENABLE_ALL, fixed, NCHWc excluded"}
            write_sidecar(ort_path, ort_info)
            entries.append(artifact_entry(ort_path.name, f"{src.stem}-ort", ort_info,
                                          source.budget(s["parent"], s["name"]), source=s["name"])
                           | {"opset": entry["opset"]})
            ort_files.append(ort_path)
    if ort_files:
        ops = required_operators(ort_files, staging / CONFIG)
        for e in entries:
            if e["format"] == "ort":
                e["required_operators"] = CONFIG
        say(f"{CONFIG}: {len(ops)} op line(s) for a minimal onnxruntime build")
    return entries


def onnx_opsets(path: Path) -> dict[str, int]:
    """{domain: opset} the model imports ('ai.onnx' for the default domain)."""
    import onnx

    return {(o.domain or "ai.onnx"): int(o.version) for o in onnx.load(str(path), load_external_data=False).opset_import}


def artifact_entry(file: str, stage: str, info: dict, budget, *, source: str | None = None) -> dict:
    from lstm_edge.runtime.fast_step import SETTINGS

    runtime = DEVICE_FORMATS[info["format"]]
    driven = SETTINGS["litert-chunked" if info.get("chunked") else runtime]
    settings = dict(driven) if "cn" in info["outputs"] else {"call": driven["call"]}
    return {"file": file, "stage": stage, "parent": info["parent"], "source": source, "format": info["format"],
            "runtime": runtime, "runtime_settings": settings, "precision": info["precision"], "recipe": info.get("recipe"),
            "opset": info.get("opset"), "outputs": list(info["outputs"]),
            "missing_outputs": info.get("missing_outputs", {}), "layout": info.get("layout"),
            "streaming": "cn" in info["outputs"], "chunk": info.get("chunk"), "chunked": info.get("chunked"),
            "budget": {k: v for k, v in (("atol", budget.atol), ("rtol", budget.rtol),
                                         ("metric_increase", budget.metric_increase)) if v is not None}}


def write_golden_file(directory: Path, staging: Path, entries: list[dict], cases: dict, source,
                      steps: str = "last") -> None:
    from lstm_edge.bundle.golden import host_outputs, write_golden
    from lstm_edge.runtime.runner import open_sequence_runner

    outputs = {"pytorch": host_outputs(source.torch_runner(), cases, steps)}
    for e in entries:
        outputs[e["stage"]] = host_outputs(open_sequence_runner(staging / e["file"]), cases, steps)
    for e in entries:   # a parent left out of the bundle still judges its children
        if e["parent"] not in outputs:
            parent = next(p for p in directory.glob(f"{e['parent']}.*") if p.suffix in (".onnx", ".tflite"))
            read_sidecar(parent)
            outputs[e["parent"]] = host_outputs(open_sequence_runner(parent), cases, steps)
    write_golden(staging / GOLDEN, source.weights_sha256, cases, outputs)


def write_manifest(staging: Path, source, entries: list[dict], cases: dict, report: dict) -> dict:
    from lstm_edge.bundle.golden import describe
    from lstm_edge.verify.report import versions

    files = {p.name: {"sha256": sha256_file(p), "size_bytes": p.stat().st_size}
             for p in sorted(staging.iterdir()) if p.is_file() and p.name != MANIFEST}
    manifest = {
        "schema": SCHEMA,
        **source.manifest_fields(),      # model (name, weights hash, I/O), task, the metric the device scores
        "golden": {"file": GOLDEN, "cases": describe(cases)},
        "artifacts": entries,
        "host_report": {"passed": report["passed"], "created": report.get("created")},
        "versions": versions(),
        "files": files,
    }
    manifest["content_sha256"] = manifest_digest(manifest)
    write_json_atomic(staging / MANIFEST, manifest)
    return manifest


def self_check(staging: Path, manifest: dict) -> dict:
    """Run the device verify on the staged bundle, here; record the host's figures in the manifest."""
    from lstm_edge.runtime.harness.bundle_files import open_bundle
    from lstm_edge.runtime.harness.verify import verify_bundle

    checks = verify_bundle(open_bundle(staging))
    failed = [c for c in checks if c.status != "pass"]
    if failed:
        lines = "; ".join(f"{c.file}: {', '.join(c.failures) or c.reason}" for c in failed)
        raise ParityError(f"the bundle does not pass its own device check on this host: {lines}")
    manifest = dict(manifest, host_check=[c.to_dict() for c in checks])
    manifest["content_sha256"] = manifest_digest(manifest)
    write_json_atomic(staging / MANIFEST, manifest)
    return manifest


def _residual_sigma(path: Path, directory: Path, meta: dict) -> list[float]:
    from lstm_edge.runtime.runner import open_sequence_runner
    from lstm_edge.stream.session import residual_sigma

    return [float(v) for v in residual_sigma(open_sequence_runner(path), directory, meta)]


def write_archive(out: Path) -> Path:
    """BUNDLE.tar.gz beside BUNDLE: one top directory, regular files only, written atomically."""
    import os
    import tarfile
    import tempfile

    target = out.with_name(out.name + ".tar.gz")
    from lstm_edge.files import umask_mode

    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, umask_mode(0o666))
        with os.fdopen(fd, "wb") as f, tarfile.open(fileobj=f, mode="w:gz") as tar:
            for p in sorted(out.iterdir()):
                tar.add(p, arcname=f"{out.name}/{p.name}", recursive=False)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def device_readme(source, entries: list[dict]) -> str:
    files = "\n".join(f"| {e['file']} | {e['runtime']} | {e['precision']} | {'yes' if e['streaming'] else 'no'} |"
                      for e in entries)
    io = source.manifest_fields()["model"]["io"]
    x = "(" + ", ".join(map(str, io["inputs"]["x"])) + ")"
    csv = (f" or a CSV with the columns {', '.join(source.meta['features'])} in raw units"
           if source.task.name == "forecast" else "")
    return f"""# lstm-edge bundle: {source.name}

Model weights sha256 `{source.weights_sha256}`. Every file's sha256 is in `manifest.json`.

## On the device (Python 3.10+, numpy, and onnxruntime and/or ai-edge-litert)

    pip install lstm-edge                                # the base install: no torch, no tensorflow
    python -m lstm_edge.runtime verify THIS_DIRECTORY    # hashes, golden vectors, budgets → exit 0/1
    python -m lstm_edge.runtime bench THIS_DIRECTORY --out $(hostname).json
    python -m lstm_edge.runtime run THIS_DIRECTORY --input inputs.npz --output outputs.npz
    python -m lstm_edge.runtime compare host.json $(hostname).json

`verify` runs every artefact the installed runtime can run on the golden inputs and judges it
against its parent stage with the budgets CI used. `run` takes an `.npz` with `x` {x} ({io["dtype"]};
optionally the initial state {', '.join(k for k in io["inputs"] if k != "x")}){csv}.

| artefact | runtime | precision | streaming (returns cn) |
|---|---|---|---|
{files}

`required_operators.config` lists the ops of the `.ort` files, for a minimal onnxruntime build
(`./build.sh --minimal_build --include_ops_by_config required_operators.config`).
"""
