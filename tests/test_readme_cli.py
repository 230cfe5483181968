"""Docs that cannot drift: README.md's "## Command line" table against the commands' own --help.

The rule, for both entry points (`lstm-edge`, through typer's CliRunner and the click command it
builds; `python -m lstm_edge.runtime`, through its argparse parser):

- A row of the table documents the command its first cell's code span starts with
  (`lstm-edge CMD …`; `CMD` may be `a|b|c`, naming several). Every row documents a command.
- Every command --help lists (hidden ones are not listed) has a row; every documented command exists.
- Every option that a command's --help lists is in the synopsis (the first cell's code span) of one
  of its rows, and every `--option` written anywhere in its rows (synopsis or description) exists on
  its --help. Not counted: --help itself (and -h, and typer's completion options, which this app
  turns off) — every command has it.
- Global options (given before the command: lstm-edge's --debug and --verbose, the harness's
  --debug) are named in the section's text.
- Anywhere in the README, a code span or code-block line that runs `lstm-edge CMD …` or
  `python -m lstm_edge.runtime SUB …` names an existing command and only options it has.
- The Quantization table names exactly converters/recipes.py's RECIPES; `lstm-edge export --help`
  lists every recipe the command accepts, each name whole on one line at any terminal width.

No model and no TensorFlow: --help and the parsers only (about a second).
"""
from __future__ import annotations

import argparse
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
import typer
from typer.testing import CliRunner

from lstm_edge.cli import app
from lstm_edge.converters.recipes import RECIPES
from lstm_edge.runtime.__main__ import parser as harness_parser

README = Path(__file__).resolve().parents[1] / "README.md"
CLI, HARNESS = "lstm-edge", "python -m lstm_edge.runtime"
EVERY_COMMAND_HAS = {"--help", "-h", "--install-completion", "--show-completion"}
OPTION = re.compile(r"(?<![\w-])--[a-z0-9][a-z0-9-]*")
INVOCATION = re.compile(r"(?<![\w./-])(lstm-edge|python -m lstm_edge\.runtime)(?=\s)")

runner = CliRunner()


# ---------------------------------------------------------------- what the entry points say


@dataclass(frozen=True)
class EntryPoint:
    prog: str
    global_options: frozenset[str]
    commands: dict[str, frozenset[str]]          # command → its long options, as its --help lists them
    help: Callable[[str], str]                   # command → its --help text


def _long(options) -> frozenset[str]:
    return frozenset(o for o in options if o.startswith("--")) - EVERY_COMMAND_HAS


@functools.cache
def cli() -> EntryPoint:
    group = typer.main.get_command(app)

    def options(command) -> frozenset[str]:
        return _long(o for p in command.params if p.param_type_name == "option" and not p.hidden
                     for o in (*p.opts, *p.secondary_opts))

    def help_of(name: str) -> str:
        r = runner.invoke(app, [name, "--help"], terminal_width=200)
        assert r.exit_code == 0, f"lstm-edge {name} --help: exit {r.exit_code}\n{r.output}"
        return r.output

    return EntryPoint(CLI, options(group), {name: options(c) for name, c in group.commands.items() if not c.hidden},
                      help_of)


@functools.cache
def harness() -> EntryPoint:
    p = harness_parser()
    subparsers = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))

    def options(parser: argparse.ArgumentParser) -> frozenset[str]:
        return _long(o for a in parser._actions if a.help is not argparse.SUPPRESS for o in a.option_strings)

    return EntryPoint(HARNESS, options(p), {name: options(sp) for name, sp in subparsers.choices.items()},
                      lambda name: subparsers.choices[name].format_help())


ENTRY_POINTS = {CLI: cli, HARNESS: harness}


# ---------------------------------------------------------------- what the README says


def section(title: str) -> str:
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README.read_text(), re.M | re.S)
    assert m, f'README.md has no "## {title}" section'
    return m.group(1)


def table_rows(text: str) -> list[list[str]]:
    """Every row of the markdown tables in `text` but their header and rule, as cells (`\\|` unescaped)."""
    rows, previous_was_row = [], False
    for line in text.splitlines():
        is_row = line.startswith("|")
        if is_row and previous_was_row:
            cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if not all(set(c) <= set("-: ") for c in cells):      # not the |---| rule
                rows.append(cells)
        previous_was_row = is_row
    return rows


@dataclass
class Rows:
    synopsis: set[str]          # options in the first cells' code spans: the usage the row documents
    written: set[str]           # options anywhere in the rows, descriptions too


def documented(prog: str) -> dict[str, Rows]:
    """Command → the options in its rows of the Command line table."""
    docs: dict[str, Rows] = {}
    for cells in table_rows(section("Command line")):
        m = re.match(r"`([^`]+)`", cells[0])
        assert m and INVOCATION.match(m.group(1)), \
            f"README Command line table: a row that documents no command (its first cell is not `lstm-edge CMD …`): {cells}"
        if not m.group(1).startswith(prog + " "):
            continue
        name = m.group(1)[len(prog):].split()[0]
        assert not name.startswith("-"), f"README Command line table: a row starts with an option, not a command: {cells}"
        for command in name.split("|"):
            rows = docs.setdefault(command, Rows(set(), set()))
            rows.synopsis.update(OPTION.findall(m.group(1)))
            rows.written.update(OPTION.findall(" ".join(cells)))
    return docs


def invocations(snippets: list[str] | None = None) -> list[tuple[str, str, str]]:
    """(snippet, prog, what follows prog) for every run of an entry point in a README code span or code-block
    line (a line ending in a backslash goes on), or in the given `snippets`."""
    if snippets is None:
        text = README.read_text()
        fenced = re.compile(r"^```.*?^```", re.M | re.S)
        snippets = [line for block in fenced.findall(text) for line in block.replace("\\\n", " ").splitlines()]
        snippets += [span.replace("\n", " ") for span in re.findall(r"`([^`\n]+(?:\n[^`\n]+)*)`", fenced.sub("", text))]
    found = []
    for snippet in (s.replace("\\|", "|") for s in snippets):    # `a\|b` in a table cell
        parts = INVOCATION.split(snippet)            # [before, prog, rest, prog, rest, …]
        found += [(snippet.strip(), prog, rest) for prog, rest in zip(parts[1::2], parts[2::2])]
    return found


def _names(option: str, text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


# ---------------------------------------------------------------- the checks


@pytest.mark.parametrize("prog", [CLI, HARNESS])
def test_every_command_has_a_row_and_every_row_a_command(prog):
    actual, docs = ENTRY_POINTS[prog]().commands, documented(prog)
    problems = [f"`{prog} {c}` is a command (its --help lists it) with no row in README's Command line table"
                for c in sorted(set(actual) - set(docs))]
    problems += [f"README's Command line table documents `{prog} {c}`, which is no command of {prog} "
                 f"(it has: {', '.join(sorted(actual))})" for c in sorted(set(docs) - set(actual))]
    assert not problems, "\n".join(problems)


def test_lstm_edge_help_lists_exactly_the_visible_commands():
    out = runner.invoke(app, ["--help"], terminal_width=200).output
    block = out.split("\nCommands:\n")[1].split("\n\n")[0]        # up to the epilog
    listed = set(re.findall(r"^  ([a-z][a-z-]*)\s", block, re.M))
    assert listed == set(cli().commands), f"lstm-edge --help lists {sorted(listed)}; the click group has {sorted(cli().commands)}"


@pytest.mark.parametrize("prog", [CLI, HARNESS])
def test_every_option_of_every_command_is_in_its_row_and_every_row_option_exists(prog):
    entry, docs = ENTRY_POINTS[prog](), documented(prog)
    problems = []
    for command in sorted(set(entry.commands) & set(docs)):
        listed, help_text = entry.commands[command], entry.help(command)
        problems += [f"`{prog} {command}`: {o} is not on its --help (the parser has it hidden or not at all)"
                     for o in sorted(listed) if not _names(o, help_text)]
        problems += [f"`{prog} {command} --help` lists {o}, which the synopsis of README's Command line row for "
                     f"`{prog} {command}` does not name" for o in sorted(listed - docs[command].synopsis)]
        problems += [f"README's Command line row for `{prog} {command}` names {o}, which `{prog} {command} --help` "
                     f"does not list (it has: {', '.join(sorted(listed)) or 'no options'})"
                     for o in sorted(docs[command].written - listed)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("prog", [CLI, HARNESS])
def test_global_options_are_named_in_the_command_line_section(prog):
    text, entry = section("Command line"), ENTRY_POINTS[prog]()
    assert entry.global_options, f"{prog}: no global options found; the test reads the wrong parser"
    missing = sorted(o for o in entry.global_options if not _names(o, text))
    assert not missing, f"{prog} --help lists the global option(s) {missing}, which README's Command line section does not name"


def test_every_command_line_anywhere_in_the_readme_names_real_commands_and_options():
    runs = invocations()
    assert len(runs) > 20, f"found only {len(runs)} command lines in README.md: the parser of code spans broke"
    problems = command_line_problems(runs, "README")
    assert not problems, "\n".join(problems)


def test_the_example_workflow_runs_real_commands_and_options():
    """examples/github-actions.yml, which README's 'Parity in your CI' tells users to copy (one command per line)."""
    lines = (README.parent / "examples" / "github-actions.yml").read_text().splitlines()
    runs = invocations([re.sub(r"^\s*(- )?run:\s*", "", line) for line in lines if re.match(r"^\s*(- )?run:\s*\S", line)])
    assert len(runs) >= 3, runs                  # pipeline, verify --recheck, the device harness
    problems = command_line_problems(runs, "examples/github-actions.yml")
    assert not problems, "\n".join(problems)


def command_line_problems(runs, where: str) -> list[str]:
    problems = []
    for snippet, prog, rest in runs:
        entry, words = ENTRY_POINTS[prog](), rest.split()
        leading = []
        while words and words[0].startswith("--"):
            leading.append(words.pop(0))
        problems += [f"README `{snippet}`: {o} before the command is not a global option of {prog}"
                     for o in leading if o not in entry.global_options]
        if not words:
            continue
        for command in words[0].split("|"):
            if command not in entry.commands:
                problems.append(f"README `{snippet}`: `{prog} {command}` is no command (there are: "
                                f"{', '.join(sorted(entry.commands))})")
                continue
            problems += [f"README `{snippet}`: `{prog} {command}` has no option {o}"
                         for o in OPTION.findall(" ".join(words[1:])) if o not in entry.commands[command] | EVERY_COMMAND_HAS]
    return [p.replace("README `", f"{where} `", 1) for p in problems]


def test_the_quantization_table_names_exactly_the_recipes():
    names = [m.group(1) for cells in table_rows(section("Quantization")) if (m := re.fullmatch(r"`([^`]+)`", cells[0]))]
    problems = [f"README's Quantization table lacks the recipe {r} (converters/recipes.py)" for r in RECIPES if r not in names]
    problems += [f"README's Quantization table names {n}, which is not a recipe in converters/recipes.py"
                 for n in names if n not in RECIPES]
    problems += [f"README's Quantization table names {n} twice" for n in sorted({n for n in names if names.count(n) > 1})]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("width", [60, 80, 200])
def test_export_help_lists_every_recipe_export_accepts_each_whole(width, tmp_path):
    from lstm_edge.cli.export import _check_recipes
    from lstm_edge.errors import UsageError

    out = runner.invoke(app, ["export", "--help"], terminal_width=width).output
    block = re.search(r"^  --quantize\b.*?(?=^  --)", out, re.M | re.S)
    assert block, f"lstm-edge export --help (width {width}) has no --quantize option:\n{out}"
    listed = re.findall(r"(?<![\w-])((?:onnx|tflite)-[a-z0-9-]*[a-z0-9])", block.group(0))
    problems = [f"lstm-edge export --help (width {width}) does not list the recipe {r} whole on one line"
                for r in RECIPES if r not in listed]
    problems += [f"lstm-edge export --help (width {width}) lists {n}, which is no recipe (a name broken across lines?)"
                 for n in listed if n not in RECIPES]
    assert not problems, "\n".join(problems) + "\n" + block.group(0)
    # what the command accepts (its check before any work; a directory without a checkpoint): every recipe …
    assert _check_recipes(tmp_path, None, list(RECIPES), True) == list(RECIPES)
    # … and nothing else: a usage error (exit 2)
    with pytest.raises(UsageError, match="unknown quantization recipe 'tflite-int4'") as refused:
        _check_recipes(tmp_path, None, ["tflite-int4"], True)
    assert refused.value.exit_code == 2


def test_the_layout_section_names_every_package_and_module():
    """README's Layout block and the tree agree: every package folder and every module (but the CLI's one file per
    command) is named there, and every folder it names exists."""
    block = section("Layout").split("```")[1]
    root = README.parent
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", block))
    problems = []
    for top in ("lstm_edge", "converters", "runtime"):
        for path in (root / top).rglob("*.py"):
            rel = path.relative_to(root)
            if path.stem != "__init__" and "cli" not in rel.parts and path.stem not in words:
                problems.append(f"{rel} is not named in README's Layout")
        for folder in (root / top).rglob("__init__.py"):
            name = folder.parent.name + "/"
            if folder.parent != root / top and name not in block:
                problems.append(f"{folder.parent.relative_to(root)}/ is not named in README's Layout")
    named = set(re.findall(r"(?<![\w/.-])([a-z_]+)/(?=\s)", block))
    folders = {p.name for p in root.rglob("*") if p.is_dir() and ".venv" not in p.parts and ".git" not in p.parts}
    problems += [f"README's Layout names {n}/, which is no folder of the project" for n in sorted(named - folders)]
    assert not problems, "\n".join(problems)
