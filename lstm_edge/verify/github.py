"""GitHub Actions, on by itself when GITHUB_ACTIONS=true (`--no-ci-annotations` turns it off).

- The step summary: a Markdown block appended to the file $GITHUB_STEP_SUMMARY names — failures first, each
  with its figures, its budget and the budget's line; the passes collapsed in a <details>; capped well under
  GitHub's 1 MiB per step (the passes' table is cut first, and says so).
- Annotations: one `::error file=…,line=…,title=…::message` line on stdout per failed check, pointing at the
  line of the spec or project file where the exceeded budget is written (lstm_edge/verify/budget_lines.py);
  without a file (the file is not in this checkout, or was edited since training) the annotation names the
  check alone and says why.

The checks are the JUnit cases (lstm_edge/verify/junit.py): one list, so the summary, the annotations and
the XML never disagree about what failed.
"""
from __future__ import annotations

import os
from pathlib import Path

SUMMARY_LIMIT = 512 * 1024          # bytes: half of GitHub's 1 MiB per step, room for other steps' output


def enabled(no_annotations: bool) -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true" and not no_annotations


def budget_line(report, key: str | None) -> tuple[str | None, int | None]:
    """(file, line) of a case's budget_key ("PARENT->STAGE.atol", "streaming.fp32"), or (file or None, None)."""
    found = report.provenance.get("budget_file") or {}
    path, lines = found.get("path"), found.get("lines")
    if not key or not lines:
        return path if lines else None, None
    row, _, field = key.rpartition(".") if not key.startswith("streaming.") else (key, "", "")
    at = lines.get(row)
    if isinstance(at, dict):                   # a tolerance row: the key's own line, else the row's header
        return path, at.get(field) or at.get("row")
    return path, at


def _escape(text: str, *, prop: bool = False) -> str:
    """GitHub's workflow-command escaping (% \\r \\n; in properties also : and ,)."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def annotations(report, cases) -> list[str]:
    out = []
    for c in cases:
        if c.failure is None:
            continue
        file, line = budget_line(report, c.budget_key)
        where = f"file={_escape(file, prop=True)},line={line}," if file and line else ""
        why = "" if where or not c.budget_key else f" ({_no_line_reason(report)})"
        out.append(f"::error {where}title={_escape(f'lstm-edge {report.model}: {c.name}', prop=True)}::"
                   f"{_escape(c.failure + why)}")
    return out


def _no_line_reason(report) -> str:
    found = report.provenance.get("budget_file")
    if not found:
        return "no budget file recorded at training: its line cannot be shown"
    return found.get("note") or "the budget's line was not found in " + str(found.get("path"))


def summary(report, cases) -> str:
    """The step summary's Markdown."""
    failed = [c for c in cases if c.failure is not None]
    passed = [c for c in cases if c.failure is None and c.skipped is None]
    skipped = [c for c in cases if c.failure is None and c.skipped is not None]
    verdict = "✅ PASS" if report.passed else "❌ FAIL"
    head = [f"## lstm-edge verify: {report.model} — {verdict}" + (" (warn-only: not failing the job)" if report.warn_only
                                                                    and not report.passed else ""), "",
            f"{len(failed)} failed, {len(passed)} passed, {len(skipped)} not exposed · task {report.task}"
            + (f" · re-judged with {report.recheck['budgets']}" if report.recheck else ""), ""]
    if failed:
        head += ["### Failures", "", "| check | measured against budget | budget line |", "|---|---|---|"]
        for c in failed:
            file, line = budget_line(report, c.budget_key)
            head.append(f"| `{c.name}` | {_cell(c.failure)} | {f'`{file}:{line}`' if file and line else '—'} |")
        head.append("")
    rows = [f"| `{c.name}` | {_cell(c.detail)} |" for c in passed]
    tail = ["</details>", ""]
    body = [f"<details><summary>{len(passed)} passed checks</summary>", "", "| check | figures |", "|---|---|"]
    size = len("\n".join(head + body + tail).encode())
    for k, r in enumerate(rows):
        size += len(r.encode()) + 1
        if size > SUMMARY_LIMIT:
            body.append(f"| … | {len(rows) - k} more passes left out (summary size limit); every check is in the JUnit "
                        "file and report.json |")
            break
        body.append(r)
    return "\n".join(head + (body + [""] + tail if passed else [])) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def publish(report, cases, *, echo=print) -> None:
    """Append the summary to $GITHUB_STEP_SUMMARY (when set) and print the annotations."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if target:
        with open(Path(target), "a", encoding="utf-8") as f:
            f.write(summary(report, cases))
    for line in annotations(report, cases):
        echo(line)
