"""Gate order of every framework, named in one place, and the mappings between them.

A permutation bug here is the most likely silent error in the product, so every layout
is spelled out once and every mapping is tested both ways (tests/test_gates.py), including
against the weights a real exporter wrote.

Canonical gate names follow the LSTM equations (lstm_edge/model/reference.py):
    input (i_t), forget (f_t), cell (the candidate c̃_t), output (o_t).

| framework | stacked rows / columns         | biases                    | weight layout            |
|-----------|--------------------------------|---------------------------|--------------------------|
| pytorch   | i, f, g(=cell), o   (rows)     | b_ih and b_hh, (4H,) each | W_ih (4H, F), W_hh (4H, H)|
| onnx      | i, o, f, c(=cell)   (rows)     | B = [Wb; Rb], (D, 8H)     | W (D, 4H, F), R (D, 4H, H)|
| keras     | i, f, c(=cell), o   (columns)  | one bias = b_ih + b_hh    | kernel (F, 4H), recurrent (H, 4H) |
| per_gate  | one matrix per gate over [h_{t-1}, x_t] | one bias per gate | W_gate (H, H + F)        |
| step      | i, f, o, c(=cell)   (columns)  | one bias = b_ih + b_hh    | W (F + H, 4H) over [x_t, h_{t-1}] |

"step" is our TFLite streaming cell (converters/to_tflite_step.py): one matrix product per
layer, and the three sigmoid gates side by side so one LOGISTIC covers them.
"""
from __future__ import annotations

import numpy as np

GATES = ("input", "forget", "cell", "output")

GATE_ORDER: dict[str, tuple[str, ...]] = {
    "pytorch": ("input", "forget", "cell", "output"),
    "onnx": ("input", "output", "forget", "cell"),
    "keras": ("input", "forget", "cell", "output"),
    "step": ("input", "forget", "output", "cell"),
}


def split_gates(stacked: np.ndarray, framework: str, axis: int = 0) -> dict[str, np.ndarray]:
    """(4H, ...) stacked in `framework` order → {gate: (H, ...)}."""
    parts = np.split(stacked, 4, axis=axis)
    return dict(zip(GATE_ORDER[framework], parts))


def stack_gates(gates: dict[str, np.ndarray], framework: str, axis: int = 0) -> np.ndarray:
    """{gate: (H, ...)} → (4H, ...) stacked in `framework` order."""
    return np.concatenate([gates[g] for g in GATE_ORDER[framework]], axis=axis)


def reorder(stacked: np.ndarray, src: str, dst: str, axis: int = 0) -> np.ndarray:
    return stack_gates(split_gates(stacked, src, axis), dst, axis)


# --- PyTorch ↔ per-gate equations -------------------------------------------------------------

def torch_to_per_gate(w_ih, w_hh, b_ih, b_hh) -> tuple[dict, dict]:
    """One PyTorch layer → the per-gate W (H, H+F) over [h_{t-1}, x_t] and b (H,)."""
    wi, wh = split_gates(w_ih, "pytorch"), split_gates(w_hh, "pytorch")
    bi, bh = split_gates(b_ih, "pytorch"), split_gates(b_hh, "pytorch")
    W = {g: np.concatenate([wh[g], wi[g]], axis=1) for g in GATES}
    b = {g: bi[g] + bh[g] for g in GATES}
    return W, b


# --- PyTorch ↔ ONNX ----------------------------------------------------------------------

def torch_to_onnx(w_ih, w_hh, b_ih, b_hh) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One unidirectional PyTorch layer → ONNX W (1, 4H, F), R (1, 4H, H), B (1, 8H)."""
    W = reorder(w_ih, "pytorch", "onnx")[None]
    R = reorder(w_hh, "pytorch", "onnx")[None]
    B = np.concatenate([reorder(b_ih, "pytorch", "onnx"), reorder(b_hh, "pytorch", "onnx")])[None]
    return W, R, B


def onnx_to_torch(W, R, B) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """ONNX W (1, 4H, F), R (1, 4H, H), B (1, 8H) → PyTorch w_ih, w_hh, b_ih, b_hh."""
    wb, rb = np.split(B[0], 2)
    return (reorder(W[0], "onnx", "pytorch"), reorder(R[0], "onnx", "pytorch"),
            reorder(wb, "onnx", "pytorch"), reorder(rb, "onnx", "pytorch"))


# --- PyTorch ↔ Keras ---------------------------------------------------------------------

def torch_to_keras(w_ih, w_hh, b_ih, b_hh) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One PyTorch layer → Keras kernel (F, 4H), recurrent_kernel (H, 4H), bias (4H,).

    Keras has one bias, so the two PyTorch biases are summed: the cell only ever uses
    their sum, so this loses nothing (but the split cannot be recovered on the way back).
    """
    kernel = reorder(w_ih, "pytorch", "keras").T
    recurrent = reorder(w_hh, "pytorch", "keras").T
    bias = reorder(b_ih + b_hh, "pytorch", "keras")
    return kernel, recurrent, bias


def keras_to_torch(kernel, recurrent, bias) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Keras weights → PyTorch w_ih, w_hh, b_ih (= the Keras bias), b_hh (= zeros)."""
    b = reorder(bias, "keras", "pytorch")
    return (reorder(kernel.T, "keras", "pytorch"), reorder(recurrent.T, "keras", "pytorch"),
            b, np.zeros_like(b))


# --- PyTorch → the streaming step cell ---------------------------------------------------

def torch_to_step(w_ih, w_hh, b_ih, b_hh) -> tuple[np.ndarray, np.ndarray]:
    """One PyTorch layer → W (F + H, 4H) applied to [x_t, h_{t-1}], b (4H,), columns i, f, o, c."""
    W = np.concatenate([reorder(w_ih, "pytorch", "step"), reorder(w_hh, "pytorch", "step")], axis=1).T
    return W, reorder(b_ih + b_hh, "pytorch", "step")
