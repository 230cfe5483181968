"""The on-device harness: numpy plus one runtime, argparse, no torch/tensorflow/onnx/typer/rich.

    python -m lstm_edge.runtime verify  BUNDLE            hashes, then golden vectors vs budgets; exit 0/1
    python -m lstm_edge.runtime bench   BUNDLE --out F    p50/p90/p99 per call and per step, peak RSS → JSON
    python -m lstm_edge.runtime run     BUNDLE --input F  an npz of model inputs, or a CSV streamed row by row
    python -m lstm_edge.runtime sample  BUNDLE            text from a character model (charlm), step by step
    python -m lstm_edge.runtime compare A.json B.json     bench results of several devices side by side

Exit codes are lstm-edge's own (lstm_edge/errors.py, EXIT_CODES; shown by --help). Every option is
checked before any work: a value out of range, a name that is not in the bundle or an option that
does not apply to the input is a usage error (2); an artefact that cannot do what is asked (the
fused TFLite kernel carrying a stream) is 3, as from `lstm-edge stream` and `sample`.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lstm_edge.errors import (InvalidInputError, ParityError, UsageError, code, exit_code_summary,
                              exit_status)


def main(argv=None) -> int:
    """The harness; → the exit code. argparse's own usage errors exit (SystemExit) with the usage code."""
    from lstm_edge.errors import on_sigterm

    args = parser().parse_args(argv)
    if argv is None:
        on_sigterm()
    try:
        return args.func(args)
    except KeyboardInterrupt as e:
        exit_code, message = exit_status(e)
        print(message, file=sys.stderr)
        return exit_code
    except Exception as e:   # typed errors, OSErrors and our own bugs: one table with lstm-edge
        if args.debug:
            raise
        exit_code, message = exit_status(e)
        print(message, file=sys.stderr)
        return exit_code


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(code("usage"), f"{self.prog}: error: {message}\n")


def _at_least(minimum, kind=int):
    """An argparse type: a number ≥ minimum (a usage error, exit 2, otherwise), as lstm-edge's options check."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, got {text!r}")
        if not value >= minimum:
            raise argparse.ArgumentTypeError(f"must be ≥ {minimum:g}, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m lstm_edge.runtime", description=__doc__.split("\n\n")[0],
                epilog=f"exit codes: {exit_code_summary()}")
    p.add_argument("--debug", action="store_true", help="show stack traces on errors")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    v = sub.add_parser("verify", help="check hashes and golden vectors against the manifest's budgets")
    v.add_argument("bundle", type=Path, help="bundle directory or .tar.gz")
    v.add_argument("--threads", type=_at_least(1), default=1, help="intra-op threads (default 1)")
    v.add_argument("--json", type=Path, help="also write the results as JSON here")
    v.add_argument("--junit-xml", type=Path, help="also write JUnit XML here: one test per stage × output and "
                                                  "metric, named as lstm-edge verify names them on the host")
    v.set_defaults(func=_verify)

    b = sub.add_parser("bench", help="latency per call and per streaming step, peak RSS")
    b.add_argument("bundle", type=Path)
    b.add_argument("--threads", type=_at_least(1), default=1, help="intra-op threads (default 1)")
    b.add_argument("--warmup", type=_at_least(0), default=20, help="calls excluded before timing (default 20)")
    b.add_argument("--iterations", type=_at_least(1), default=200,
                   help="timed sequence calls (default 200; 5× as many streaming steps)")
    b.add_argument("--artifact", action="append", help="only this artefact (repeatable)")
    b.add_argument("--out", type=Path, help="write the JSON here (default: print it)")
    b.set_defaults(func=_bench)

    r = sub.add_parser("run", help="run an input file through a bundled artefact")
    r.add_argument("bundle", type=Path)
    r.add_argument("--input", type=Path, required=True, help=".npz with x (B, T, F) [h0, c0], or .csv of raw rows")
    r.add_argument("--artifact", help="artefact file or stage name (default: the first one that can run here)")
    r.add_argument("--output", type=Path, help="output file (default beside the input; '-' = stdout, CSV only)")
    r.add_argument("--threads", type=_at_least(1), default=1, help="intra-op threads (default 1)")
    r.add_argument("--threshold", type=_at_least(0.0, float),
                   help="CSV only: anomaly when |observed − forecast| > threshold × σ (default 4)")
    r.set_defaults(func=_run)

    g = sub.add_parser("sample", help="generate text through a bundled character model (charlm)")
    g.add_argument("bundle", type=Path)
    g.add_argument("--artifact", help="artefact file or stage name (default: the first streaming one that runs here)")
    g.add_argument("--prompt", default="The ", help="text to start from (default 'The ')")
    g.add_argument("--length", type=_at_least(1), default=200, help="characters to generate (default 200)")
    g.add_argument("--temperature", type=_at_least(0.0, float), default=0.8,
                   help="0: always the most likely character (default 0.8)")
    g.add_argument("--seed", type=int, default=0, help="sampling seed: same seed, same text (default 0)")
    g.set_defaults(func=_sample)

    c = sub.add_parser("compare", help="bench results from several devices side by side")
    c.add_argument("results", type=Path, nargs="+", help="JSON files written by bench --out")
    c.set_defaults(func=_compare)
    return p


def _output_file(path: Path | None, option: str) -> None:
    """Before any work: an output file can be written where asked (2 if the path is wrong, 5 if not writable)."""
    from lstm_edge.runtime.harness.paths import check_output_file

    check_output_file(path, option)


def _verify(args) -> int:
    from lstm_edge.runtime.harness.bundle_files import open_bundle
    from lstm_edge.runtime.harness.verify import HEADER, format_table, table_rows, verify_bundle

    _output_file(args.json, "--json")
    _output_file(args.junit_xml, "--junit-xml")
    bundle = open_bundle(args.bundle)
    m = bundle.manifest
    print(f"bundle {args.bundle}: model '{m['model']['name']}' ({m['model']['weights_sha256'][:12]}), "
          f"{len(m['files'])} files, sha256 ok")
    from lstm_edge.runtime.harness.where import describe, environment

    env = environment()
    print(f"ran on: {describe(env)}")
    checks = verify_bundle(bundle, threads=args.threads)
    print(format_table(HEADER, table_rows(checks)))
    failed = [c for c in checks if c.status == "FAIL"]
    crashed = [c for c in checks if c.status == "CRASH"]
    for c in failed:
        for f in c.failures:
            print(f"FAIL {c.file}: {f}")
    if args.json:
        args.json.write_text(json.dumps({"bundle": str(args.bundle), "passed": not failed and not crashed,
                                         "environment": env, "artifacts": [c.to_dict() for c in checks]}, indent=2) + "\n")
    if args.junit_xml:
        from lstm_edge.runtime import junit

        metric = m.get("metric") or {}
        junit.write(args.junit_xml, f"lstm-edge device verify: {m['model']['name']}",
                    f"lstm-edge.device.{m['model']['name']}", junit.device_cases(checks, bundle.artifacts, metric.get("name")),
                    {"model": m["model"]["name"], "weights_sha256": m["model"]["weights_sha256"],
                     "verdict": "FAIL" if failed or crashed else "PASS", "bundle": str(args.bundle),
                     "machine": env["machine"], "cpu": env["cpu"], "python": env["python"],
                     "emulated": env["emulated"] or "no"})
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

    _output_file(args.out, "--out")
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

    kind = args.input.suffix
    if kind not in (".npz", ".csv"):
        raise UsageError(f"--input {args.input}: expected a .npz (model inputs) or a .csv (raw sensor rows)")
    if kind == ".npz" and args.threshold is not None:
        raise UsageError("--threshold does not apply to an .npz input: anomaly flags come from a CSV stream",
                         hint="drop --threshold, or pass the raw rows as .csv")
    if kind == ".npz" and str(args.output) == "-":
        raise UsageError("--output - (stdout) is for CSV output; an .npz input writes an .npz file",
                         hint="give a file name, e.g. --output out.npz")
    if not args.input.is_file():
        raise InvalidInputError(f"{args.input}: no such file")
    _output_file(args.output, "--output")
    summary = run_bundle(open_bundle(args.bundle), args.input, artifact=args.artifact, output=args.output,
                         threads=args.threads, threshold=4.0 if args.threshold is None else args.threshold)
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
