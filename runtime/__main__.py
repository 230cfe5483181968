"""The on-device harness: numpy plus one runtime, argparse, no torch/tensorflow/onnx/typer/rich.

    python -m lstm_edge.runtime verify  BUNDLE            hashes, then golden vectors vs budgets; exit 0/1
    python -m lstm_edge.runtime bench   BUNDLE --out F    p50/p90/p99 per call and per step, peak RSS → JSON
    python -m lstm_edge.runtime run     BUNDLE --input F  an npz of model inputs, or a CSV streamed row by row
    python -m lstm_edge.runtime compare A.json B.json     bench results of several devices side by side

Exit codes as for `lstm-edge`: 0 ok · 1 budget failure · 2 usage · 3 invalid/corrupt input ·
4 security refusal · 5 environment (no runtime installed, disk).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lstm_edge.errors import InvalidInputError, LstmEdgeError, ParityError, UsageError


def main(argv=None) -> int:
    from lstm_edge.errors import from_os_error, on_sigterm

    args = parser().parse_args(argv)
    if argv is None:
        on_sigterm()
    try:
        return args.func(args)
    except LstmEdgeError as e:
        if args.debug:
            raise
        print(f"lstm-edge: {e.kind}: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt as e:
        print("lstm-edge: interrupted", file=sys.stderr)
        return getattr(e, "exit_code", 130)
    except OSError as e:
        if args.debug:
            raise
        err = from_os_error(e)
        print(f"lstm-edge: {err.kind}: {err}", file=sys.stderr)
        return err.exit_code
    except Exception as e:   # a bug of ours: say so briefly; the traceback is one flag away
        if args.debug:
            raise
        print(f"lstm-edge: internal error: {type(e).__name__}: {e}\n  next step: re-run with --debug "
              "for the traceback and report it", file=sys.stderr)
        return 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lstm_edge.runtime", description=__doc__.split("\n\n")[0])
    p.add_argument("--debug", action="store_true", help="show stack traces on errors")
    sub = p.add_subparsers(dest="command", required=True)

    v = sub.add_parser("verify", help="check hashes and golden vectors against the manifest's budgets")
    v.add_argument("bundle", type=Path, help="bundle directory or .tar.gz")
    v.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    v.add_argument("--json", type=Path, help="also write the results as JSON here")
    v.set_defaults(func=_verify)

    b = sub.add_parser("bench", help="latency per call and per streaming step, peak RSS")
    b.add_argument("bundle", type=Path)
    b.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    b.add_argument("--warmup", type=int, default=20, help="calls excluded before timing (default 20)")
    b.add_argument("--iterations", type=int, default=200,
                   help="timed sequence calls (default 200; 5× as many streaming steps)")
    b.add_argument("--artifact", action="append", help="only this artefact (repeatable)")
    b.add_argument("--out", type=Path, help="write the JSON here (default: print it)")
    b.set_defaults(func=_bench)

    r = sub.add_parser("run", help="run an input file through a bundled artefact")
    r.add_argument("bundle", type=Path)
    r.add_argument("--input", type=Path, required=True, help=".npz with x (B, T, F) [h0, c0], or .csv of raw rows")
    r.add_argument("--artifact", help="artefact file or stage name (default: the first one that can run here)")
    r.add_argument("--output", type=Path, help="output file (default beside the input; '-' = stdout for CSV)")
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--threshold", type=float, default=4.0, help="anomaly when |observed − forecast| > threshold × σ")
    r.set_defaults(func=_run)

    g = sub.add_parser("sample", help="generate text through a bundled character model (charlm)")
    g.add_argument("bundle", type=Path)
    g.add_argument("--artifact", help="artefact file or stage name (default: the first streaming one that runs here)")
    g.add_argument("--prompt", default="The ")
    g.add_argument("--length", type=int, default=200)
    g.add_argument("--temperature", type=float, default=0.8, help="0: always the most likely character")
    g.add_argument("--seed", type=int, default=0)
    g.set_defaults(func=_sample)

    c = sub.add_parser("compare", help="bench results from several devices side by side")
    c.add_argument("results", type=Path, nargs="+", help="JSON files written by bench --out")
    c.set_defaults(func=_compare)
    return p


def _verify(args) -> int:
    from lstm_edge.runtime.harness.bundle_files import open_bundle
    from lstm_edge.runtime.harness.verify import HEADER, format_table, table_rows, verify_bundle

    bundle = open_bundle(args.bundle)
    m = bundle.manifest
    print(f"bundle {args.bundle}: model '{m['model']['name']}' ({m['model']['weights_sha256'][:12]}), "
          f"{len(m['files'])} files, sha256 ok")
    checks = verify_bundle(bundle, threads=args.threads)
    print(format_table(HEADER, table_rows(checks)))
    failed = [c for c in checks if c.status == "FAIL"]
    crashed = [c for c in checks if c.status == "CRASH"]
    for c in failed:
        for f in c.failures:
            print(f"FAIL {c.file}: {f}")
    if args.json:
        args.json.write_text(json.dumps({"bundle": str(args.bundle), "passed": not failed and not crashed,
                                         "artifacts": [c.to_dict() for c in checks]}, indent=2) + "\n")
    ran = sum(c.status != "skipped" for c in checks)
    print(f"verdict: {'FAIL' if failed or crashed else 'PASS'} ({ran} of {len(checks)} artefacts run here)")
    if crashed:
        raise InvalidInputError("the runtime crashed on " + ", ".join(f"{c.file} ({c.reason})" for c in crashed),
                                hint="these artefacts are not safe to load here; re-export them or remove them from the bundle")
    if failed:
        raise ParityError(f"{len(failed)} artefact(s) missed their budget on this device: "
                          + ", ".join(c.file for c in failed), hint="see the FAIL lines above")
    return 0


def _bench(args) -> int:
    from lstm_edge.runtime.harness.bundle_files import open_bundle
    from lstm_edge.runtime.harness.bench import bench_bundle

    doc = bench_bundle(open_bundle(args.bundle), threads=args.threads, warmup=args.warmup,
                       iterations=args.iterations, only=args.artifact)
    text = json.dumps(doc, indent=2) + "\n"
    if args.out:
        args.out.write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print(text, end="")
    return 0


def _run(args) -> int:
    from lstm_edge.runtime.harness.bundle_files import open_bundle
    from lstm_edge.runtime.harness.run import run_bundle

    summary = run_bundle(open_bundle(args.bundle), args.input, artifact=args.artifact, output=args.output,
                         threads=args.threads, threshold=args.threshold)
    print(summary, file=sys.stderr)
    return 0


def _sample(args) -> int:
    from lstm_edge.runtime import open_runner
    from lstm_edge.runtime.harness.bundle_files import open_bundle
    from lstm_edge.runtime.harness.run import choose_artifact
    from lstm_edge.runtime.harness.sample import sample_text

    bundle = open_bundle(args.bundle)
    task = bundle.manifest.get("task", {"name": "forecast"})
    if task["name"] != "charlm":
        raise UsageError(f"{args.bundle} holds a {task['name']} model; sampling needs a character model (charlm)")
    a = choose_artifact(bundle, args.artifact, streaming=True)
    text = sample_text(open_runner(bundle.root / a["file"]), task["vocabulary"], args.prompt, length=args.length,
                       temperature=args.temperature, seed=args.seed)
    print(args.prompt + text)
    print(f"sampled {args.length} characters through {a['file']}", file=sys.stderr)
    return 0


def _compare(args) -> int:
    from lstm_edge.runtime.harness.compare import render

    print(render(args.results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
