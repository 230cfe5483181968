"""A user's module from `path/to/file.py:ClassName`, and its weights from safetensors only.

The file is imported as Python (it is the user's own code, run with their rights); weights
are the untrusted part: a pickle or a torch zip is refused (exit 4) before anything reads it,
and missing or unexpected tensors are named (exit 3).
"""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from lstm_edge.errors import InvalidInputError, UsageError


def load_module(spec: str, init_args: str | None = None):
    """'file.py:Class' → an instance (kwargs from the JSON object `init_args`), in eval mode."""
    path, sep, name = spec.rpartition(":")
    if not sep or not path or not name:
        raise UsageError(f"--module {spec!r}: expected path/to/file.py:ClassName")
    file = Path(path)
    if not file.is_file():
        raise InvalidInputError(f"--module: {file} does not exist")
    kwargs = parse_init_args(init_args)
    cls = import_from_file(file, name)
    try:
        model = cls(**kwargs)
    except Exception as e:
        raise InvalidInputError(f"{file}:{name}(**{kwargs}) failed: {type(e).__name__}: {e}",
                                hint="pass constructor arguments with --init-args '{\"hidden\": 64}'")
    return model.eval()


def parse_init_args(init_args: str | None) -> dict:
    """--init-args: a JSON object of constructor keyword arguments (usage error, exit 2, otherwise)."""
    if not init_args:
        return {}
    try:
        kwargs = json.loads(init_args)
    except json.JSONDecodeError as e:
        raise UsageError(f"--init-args is not JSON: {e}")
    if not isinstance(kwargs, dict):
        raise UsageError("--init-args must be a JSON object of keyword arguments")
    return kwargs


def import_from_file(file: Path, name: str):
    """`name` from the user's Python file (a module class, a metric function), imported as their code."""
    mod_name = f"lstm_edge_user_{abs(hash(str(Path(file).resolve())))}"
    loader = importlib.util.spec_from_file_location(mod_name, file)
    module = importlib.util.module_from_spec(loader)
    sys.modules[mod_name] = module
    try:
        loader.loader.exec_module(module)
    except Exception as e:   # the user's file: any error is theirs to see, briefly
        raise InvalidInputError(f"{file} failed to import: {type(e).__name__}: {e}")
    found = getattr(module, name, None)
    if found is None:
        raise InvalidInputError(f"{file} defines no {name!r}")
    return found


def load_weights(model, weights: Path) -> None:
    """Strict: every parameter and buffer of the module, nothing else, shapes as declared."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from lstm_edge.runtime.sniff import expect

    expect(Path(weights), "safetensors")     # a pickle or torch zip: exit 4, never opened
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise InvalidInputError(f"{weights}: not a readable safetensors file ({e})")
    want = model.state_dict()
    missing, unexpected = sorted(set(want) - set(tensors)), sorted(set(tensors) - set(want))
    wrong = [f"{k} {tuple(tensors[k].shape)} (module has {tuple(want[k].shape)})"
             for k in sorted(set(want) & set(tensors)) if tensors[k].shape != want[k].shape]
    problems = ([f"missing {', '.join(missing)}"] if missing else []) + \
        ([f"unexpected {', '.join(unexpected)}"] if unexpected else []) + ([f"wrong shape {', '.join(wrong)}"] if wrong else [])
    if problems:
        raise InvalidInputError(f"{weights} does not fit the module: " + "; ".join(problems),
                                hint="save with safetensors.torch.save_file(model.state_dict(), path)")
    with torch.no_grad():
        model.load_state_dict({k: v.to(want[k].dtype) for k, v in tensors.items()})
