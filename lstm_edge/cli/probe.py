from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from lstm_edge.cli._common import check_output_dir, console, handles_errors, logs_beside

NAME = "probe-gates"


@handles_errors
@logs_beside("out")
def command(out: Optional[Path] = typer.Option(None, "--out", help="Keep the probe artefacts and gate_probes.json here.")):
    """Run gate-order probe weights through every converter; exit 1 naming any gate permutation found."""
    import json
    import tempfile

    from lstm_edge.exporting.gate_probe import probe_converters

    if out is not None:
        check_output_dir(out)

    with tempfile.TemporaryDirectory() as tmp:
        where = out or Path(tmp)
        rows = probe_converters(where)
        if out:
            (out / "gate_probes.json").write_text(json.dumps(rows, indent=2, default=list) + "\n")
    for r in rows:
        console().print(f"{r['converter']:<18} {'pass' if r['passed'] else 'FAIL'}  {r['finding']}  "
                        f"(max |Δ| {r['error']:.1e} vs PyTorch; permutations ≥ {r['min_separation']:.2f} apart)")
    if not all(r["passed"] for r in rows):
        raise typer.Exit(1)
