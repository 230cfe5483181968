from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from lstm_edge.cli._common import check_output_dir, handles_errors, logs_beside, say

NAME = "bundle"


@handles_errors
@logs_beside("out")
def command(
    directory: Path = typer.Argument(..., help="A verified output directory (pipeline, or export + verify)."),
    out: Path = typer.Option(..., "--out", help="The bundle directory to write (replaced atomically)."),
    artifact: Optional[list[str]] = typer.Option(None, "--artifact", help="Artefact or stage to include "
                                                 "(repeatable; default: every stage that passed verify)."),
    archive: bool = typer.Option(False, "--archive", help="Also write OUT.tar.gz, one file to copy."),
):
    """Write a self-contained device bundle: artefacts, .ort twins, golden vectors, manifest; checked before it is published."""
    from lstm_edge.bundle.build import bundle

    check_output_dir(out, source=directory)
    manifest = bundle(directory, out, artifacts=artifact or None, archive=archive, progress=say)
    print_bundle(manifest, out, archive)


def print_bundle(manifest: dict, out: Path, archive: bool) -> None:
    from lstm_edge.runtime.harness.verify import format_table

    rows = [(h["file"], h["runtime"], h["precision"], h["parent"],
             *(f"{h[k]:.2e}" if h[k] is not None else "—" for k in ("vs_parent", "vs_pytorch")), h["status"])
            for h in manifest["host_check"]]
    typer.echo(format_table(("artefact", "runtime", "precision", "parent", "max|Δ| vs parent", "max|Δ| vs pytorch",
                             "verdict"), rows))
    for line in op_lines(manifest):
        typer.echo(line)
    total = sum(f["size_bytes"] for f in manifest["files"].values())
    typer.echo(f"wrote {out} ({len(manifest['files'])} files, {total / 1024:.0f} KiB)"
            + (f" and {out}.tar.gz" if archive else "") + f"; on the device: python -m lstm_edge.runtime verify {out.name}")


def op_lines(manifest: dict) -> list[str]:
    """One line per TFLite artefact: op count, builtin or not, and what XNNPACK takes of it."""
    def fmt(d):
        return ", ".join(f"{k}×{v}" for k, v in d.items()) or "none"

    lines = []
    for a in manifest["artifacts"]:
        if "ops" not in a:
            continue
        ops, x = a["ops"], a["ops"].get("xnnpack", {})
        lines.append(f"{a['file']}: {sum(ops['ops'].values())} ops, {'builtin only' if ops['all_builtin'] else 'NOT builtin only'}; "
                     f"XNNPACK takes {sum(x.get('delegated', {}).values())} in {x.get('partitions', 0)} partition(s) "
                     f"({fmt(x.get('delegated', {}))}); LiteRT kernels run {fmt(x.get('not_delegated', {}))}")
    return lines
