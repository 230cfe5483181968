"""lstm_edge.train, fast: the checkpoint on disk, on an untrained checkpoint (conftest.untrained).

Training itself is slow: tiny_run, test_zoo."""
from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest

from conftest import FAST_SPEC
from lstm_edge.errors import InvalidInputError, SecurityRefusal


def test_checkpoint_round_trip_and_what_it_refuses(untrained, tmp_path):
    from lstm_edge.train.checkpoint import expected_shapes, load_checkpoint, load_test_set

    src, tensors, meta = untrained
    got, got_meta = load_checkpoint(src)
    assert set(got) == set(tensors) == set(expected_shapes(meta["dims"]))
    assert all(np.array_equal(got[k], tensors[k]) for k in tensors)
    assert got_meta["dims"] == meta["dims"] and got_meta["weights_sha256"]
    assert load_test_set(src, got_meta)["x"].shape[1:] == (FAST_SPEC["data"]["window"], len(meta["features"]))

    work = tmp_path / "run"
    shutil.copytree(src, work)
    blob = bytearray((work / "model.safetensors").read_bytes())
    blob[-1] ^= 0xFF
    (work / "model.safetensors").write_bytes(bytes(blob))
    with pytest.raises(InvalidInputError, match="sha256"):
        load_checkpoint(work)
    (work / "test_set.npz").write_bytes(b"PK\x05\x06" + bytes(18))
    with pytest.raises(InvalidInputError, match="test_set.npz: sha256"):
        load_test_set(work, got_meta)
    (work / "model.safetensors").unlink()
    (work / "model.pt").write_bytes(pickle.dumps({"w": 1}))
    with pytest.raises(SecurityRefusal, match="never unpickles"):
        load_checkpoint(work)
    with pytest.raises(InvalidInputError, match="holds no checkpoint"):
        load_checkpoint(tmp_path)
