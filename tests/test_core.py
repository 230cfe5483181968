"""lstm_edge (top level), fast: errors and their exit codes, files (sidecars, atomic and staged
writes), the pipeline's refusals before it trains."""
from __future__ import annotations

import errno

import pytest

from conftest import FAST_SPEC, tiny_spec_dict
from lstm_edge.errors import (ConversionError, EnvironmentFault, InvalidInputError, LstmEdgeError, ParityError,
                              SecurityRefusal, UsageError)


def test_every_error_kind_has_its_exit_code_and_next_step():
    assert [c.exit_code for c in (ParityError, UsageError, InvalidInputError, SecurityRefusal, EnvironmentFault)] \
        == [1, 2, 3, 4, 5]
    e = InvalidInputError("model.onnx is corrupt", hint="re-export it")
    assert str(e) == "model.onnx is corrupt\n  next step: re-export it" and isinstance(e, LstmEdgeError)
    c = ConversionError("a.onnx", ["shape wrong", "dtype wrong"])
    assert c.exit_code == 3 and "2 check(s) failed" in str(c) and "[x] dtype wrong" in str(c)
    from lstm_edge.errors import from_os_error

    full = from_os_error(OSError(errno.ENOSPC, "No space left on device", "/out/x"))
    assert isinstance(full, EnvironmentFault) and full.exit_code == 5 and "/out/x" in str(full) and "ENOSPC" in str(full)
    gone = from_os_error(OSError(errno.ENOENT, "No such file or directory", "/in/y"))
    assert isinstance(gone, InvalidInputError) and gone.exit_code == 3 and "ENOENT" in str(gone)


def test_sidecars_catch_a_replaced_artefact_and_json_errors_are_named(tmp_path):
    from lstm_edge.files import list_artifacts, read_json, read_sidecar, write_bytes_atomic, write_sidecar

    art = tmp_path / "a.onnx"
    write_bytes_atomic(art, b"model bytes")
    info = write_sidecar(art, {"kind": "artifact", "parent": "pytorch"})
    assert info["size_bytes"] == 11 and read_sidecar(art)["parent"] == "pytorch"
    write_bytes_atomic(tmp_path / "b.onnx", b"no sidecar")
    (tmp_path / "model.json").write_text("{}")
    assert list_artifacts(tmp_path) == [art]
    art.write_bytes(b"model bytez")
    with pytest.raises(InvalidInputError, match="does not match its sidecar"):
        read_sidecar(art)
    with pytest.raises(InvalidInputError, match="does not exist"):
        read_json(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        read_json(tmp_path / "bad.json")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]    # atomic writes leave no temporaries


def test_a_failed_stage_leaves_the_previous_output_and_a_good_one_replaces_it(tmp_path):
    from lstm_edge.files import staged_output

    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("previous")
    with pytest.raises(RuntimeError):
        with staged_output(out) as staging:
            (staging / "new.txt").write_text("half")
            raise RuntimeError("a stage failed")
    assert sorted(p.name for p in out.iterdir()) == ["old.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]       # no staging directory or lock left
    with staged_output(out) as staging:
        (staging / "new.txt").write_text("done")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_pipeline_refuses_a_missing_csv_before_it_trains_or_writes(tmp_path):
    from lstm_edge.model.spec import spec_from_dict
    from lstm_edge.pipeline import pipeline

    spec = spec_from_dict(tiny_spec_dict())
    with pytest.raises(InvalidInputError, match="no-such.csv"):
        pipeline(spec, tmp_path / "out", data=tmp_path / "no-such.csv", bar=False)
    csv_spec = spec_from_dict(tiny_spec_dict(data=FAST_SPEC["data"] | {"source": "csv"}))
    with pytest.raises(UsageError, match="--data FILE"):
        pipeline(csv_spec, tmp_path / "out", bar=False)
    assert list(tmp_path.iterdir()) == []
