"""Which form a user's module takes — the one decision every command reads:

- "single": one nn.LSTM / nn.GRU with an input layer and a head around it (inspect.py). Its artefacts
  take the state in and return it (h0[, c0] → hn[, cn]); it streams with a step artefact.
- "graph": any other composition the graph converter maps (lstm_edge/graph): several recurrent
  layers, LayerNorm, Conv1d, residual adds, attention pooling … Its artefacts take x and return y,
  every call from the zero state.

A module whose layers the single form lists is tried as that form first (it keeps state I/O); if its
forward() does something the single form does not model, the traced graph decides, and when the
graph cannot map it either the single form's refusal stands (it names the op). A module with other
layers or more than one recurrent layer goes to the graph alone, and its refusal names the node.
"""
from __future__ import annotations

from lstm_edge.errors import InvalidInputError


def recognise(model, example):
    from lstm_edge.byo.inspect import check_layers, inspect

    try:
        check_layers(model)
    except InvalidInputError:
        return _graph(model, example)
    try:
        return inspect(model, example)
    except InvalidInputError as single:
        try:
            return _graph(model, example)
        except InvalidInputError:
            raise single from None


def _graph(model, example):
    """The traced graph, and whether it streams (measured: lstm_edge/graph/step.why_not)."""
    from lstm_edge.graph.step import why_not
    from lstm_edge.graph.trace import trace

    arch = trace(model, example)
    arch.why_not_streaming = why_not(model, arch, example)
    return arch


def architecture_from_dict(d: dict):
    """byo-report.json / model.json's "architecture" → the form it was recognised as."""
    from lstm_edge.byo.inspect import Architecture
    from lstm_edge.graph.trace import GraphArchitecture

    return (GraphArchitecture if d.get("form") == "graph" else Architecture).from_dict(d)
