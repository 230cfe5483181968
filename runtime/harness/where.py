"""Where the device harness ran, as the runtime sees it: machine, CPU, Python, runtime versions, and
whether it was emulated. `python -m lstm_edge.runtime verify --json` and `bench` record it, so a figure
always says which architecture produced it (numpy and the standard library only: this ships to devices).

Emulation cannot be seen from inside a qemu-user guest (it shows whatever /proc/cpuinfo it is given),
so the launcher that starts it says so: LSTM_EDGE_EMULATED="qemu-aarch64 7.2 (-cpu neoverse-n1)" (lstm_edge/
emulate/aarch64.py). Figures measured there are numbers, not latencies.
"""
from __future__ import annotations

import os
import platform
from importlib import metadata

EMULATED_ENV = "LSTM_EDGE_EMULATED"

# ARM's "CPU part" numbers (implementer 0x41) for the cores lstm-edge's devices carry; /proc/cpuinfo on
# aarch64 Linux has no model name, only these
ARM_PARTS = {"0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55", "0xd07": "Cortex-A57",
             "0xd08": "Cortex-A72", "0xd09": "Cortex-A73", "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76",
             "0xd0c": "Neoverse-N1", "0xd0d": "Cortex-A77", "0xd40": "Neoverse-V1", "0xd41": "Cortex-A78",
             "0xd44": "Cortex-X1", "0xd46": "Cortex-A510", "0xd47": "Cortex-A710", "0xd49": "Neoverse-N2",
             "0xd4f": "Neoverse-V2"}


def cpu_model(cpuinfo: str) -> str:
    """The CPU's name from /proc/cpuinfo text: 'model name' (x86), else the ARM part ('Neoverse-N1 (0x41:0xd0c)')."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() not in fields:
            fields[key.strip().lower()] = value.strip()
    for key in ("model name", "hardware", "cpu model"):
        if fields.get(key):
            return fields[key]
    part = fields.get("cpu part", "").lower()
    if part:
        implementer = fields.get("cpu implementer", "?")
        name = ARM_PARTS.get(part, "ARM core") if implementer == "0x41" else "core"
        return f"{name} ({implementer}:{part})"
    return platform.processor() or ""


def environment() -> dict:
    def version(dist):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            cpu = cpu_model(f.read())
    except OSError:
        cpu = platform.processor() or ""
    import numpy as np

    return {"hostname": platform.node(), "machine": platform.machine(), "system": platform.system(),
            "release": platform.release(), "cpu": cpu, "cpu_count": os.cpu_count(),
            "python": platform.python_version(), "numpy": np.__version__,
            "onnxruntime": version("onnxruntime"), "ai-edge-litert": version("ai-edge-litert"),
            "lstm-edge": version("lstm-edge"), "emulated": os.environ.get(EMULATED_ENV) or None}


def describe(env: dict) -> str:
    """'aarch64, Neoverse-N1 (0x41:0xd0c), Python 3.11.2, onnxruntime 1.32.0, ai-edge-litert 2.3.0, emulated: …'"""
    parts = [env.get("machine") or "?", env.get("cpu") or "?", f"Python {env.get('python')}"]
    parts += [f"{k} {env[k]}" for k in ("onnxruntime", "ai-edge-litert") if env.get(k)]
    return ", ".join(parts) + (f", emulated: {env['emulated']}" if env.get("emulated") else "")
