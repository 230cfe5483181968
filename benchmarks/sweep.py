"""A larger sweep than one `lstm-edge bench` run: several output directories × thread counts.

    python benchmarks/sweep.py artifacts/sensor artifacts/throughput --threads 1 2 --rounds 5 --out artifacts/sweep.md

Each (directory, threads) pair is one full `lstm-edge bench` run (its bench.json, bench.md
and bench.png are left in the directory, overwritten by the next thread count); this script
collects the best artefact of every scenario and every target verdict into one Markdown file.
Prepare the directories first: `make demo` (the default model) and
`lstm-edge pipeline --model models/throughput.toml --out artifacts/throughput` (H = 256).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("directories", nargs="+", type=Path)
    p.add_argument("--threads", nargs="+", type=int, default=[1])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--out", type=Path, default=Path("artifacts/sweep.md"))
    args = p.parse_args(argv)

    from lstm_edge.bench.run import bench

    lines = ["# lstm-edge benchmark sweep", "",
             "| model | threads | scenario | best artefact | median | × PyTorch eager | GFLOP/s | % sgemm |",
             "|---|---|---|---|---|---|---|---|"]
    verdicts = ["", "| model | threads | target | measured | goal | verdict |", "|---|---|---|---|---|---|"]
    for d in args.directories:
        for t in args.threads:
            print(f"· {d} with {t} thread(s)", file=sys.stderr, flush=True)
            doc = bench(d, threads=t, rounds=args.rounds)
            torch = next(r for r in doc["results"] if r["name"] == "pytorch-eager")
            for sc in doc["settings"]["scenarios"]:
                arts = [r for r in doc["results"] if sc in r["scenarios"] and not r["floor"] and r["runtime"] != "pytorch"]
                if not arts:
                    continue
                best = min(arts, key=lambda r: r["scenarios"][sc]["median_ms"])
                s = best["scenarios"][sc]
                lines.append(f"| {doc['model']} | {t} | {sc} | {best['name']} | {s['median_ms']:.4f} ms | "
                             f"{torch['scenarios'][sc]['median_ms'] / s['median_ms']:.1f}× | {s['gflops']:.1f} | "
                             f"{100 * s['gflops'] / doc['sgemm']['gflops']:.0f} |")
            verdicts += [f"| {doc['model']} | {t} | {x['target']} | {x['value']:.2f} | {x['goal']:.2f} | "
                         f"{'met' if x['met'] else 'MISSED'} |" for x in doc["targets"]]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines + verdicts) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
