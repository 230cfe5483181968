"""The sensor generator, windowing, and the CSV loader's errors (each names line and/or column)."""
import numpy as np
import pytest

from lstm_edge.data.csv_loader import load_csv
from lstm_edge.data.sensor import generate_sensor_series
from lstm_edge.data.windows import prepare
from lstm_edge.errors import InvalidInputError


def test_generator_is_deterministic_and_seeded():
    a, b, c = (generate_sensor_series(days=30, seed=s) for s in (0, 0, 1))
    assert a.values.tobytes() == b.values.tobytes() and np.array_equal(a.anomaly, b.anomaly)
    assert not np.array_equal(a.values, c.values)
    assert a.values.shape == (30 * 24, 4) and a.values.dtype == np.float32
    assert a.columns == ("temperature", "humidity", "load", "vibration") and a.period == 24
    assert np.isfinite(a.values).all()


@pytest.mark.parametrize("days", [1, 3, 7, 8])
def test_generator_works_for_short_series(days):
    s = generate_sensor_series(days=days, seed=9)
    assert s.values.shape == (days * 24, 4) and np.isfinite(s.values).all()


def test_generator_has_seasons_and_labelled_anomalies():
    s = generate_sensor_series(days=60, seed=0)
    load = s.values[:, 2].astype(np.float64)
    load = load - load.mean()
    lag24 = (load[24:] @ load[:-24]) / (load @ load)
    lag12 = (load[12:] @ load[:-12]) / (load @ load)
    assert lag24 > 0.5 and lag24 > lag12            # a daily cycle
    weekday = s.values[:, 2].reshape(60, 24)[:, 8:18].mean(axis=1)
    assert weekday[np.arange(60) % 7 < 5].mean() > weekday[np.arange(60) % 7 >= 5].mean() + 10   # weekly
    assert s.anomaly.sum() > 0 and s.anomaly.mean() < 0.1


def test_windows_split_in_time_order_with_train_statistics():
    s = generate_sensor_series(days=30, seed=0)
    p = prepare(s, features=(), targets=("load",), window=24, horizon=1, split=(0.7, 0.15, 0.15))
    assert p.train.x.shape[1:] == (24, 4) and p.train.y.shape[1:] == (24, 1)
    assert p.train.last_time.max() < p.val.start <= p.val.last_time.min()
    assert p.val.last_time.max() < p.test.start
    np.testing.assert_allclose(p.norm.mean, s.values[:p.val.start].mean(axis=0), rtol=1e-5)
    # the target at step t is the input's load one step later
    np.testing.assert_allclose(p.train.y[0, :-1, 0], p.train.x[0, 1:, 2])


GOOD = "time,temp,power\n" + "".join(f"{i},{20 + (i % 24) * 0.1:.2f},{5 + (i % 7):.1f}\n" for i in range(60))


def write(tmp_path, text, name="data.csv", binary=False):
    p = tmp_path / name
    p.write_bytes(text) if binary else p.write_text(text)
    return p


def test_good_csv(tmp_path):
    s = load_csv(write(tmp_path, GOOD), targets=["power"], time_column="time", min_rows=10)
    assert s.columns == ("temp", "power") and s.values.shape == (60, 2) and s.values.dtype == np.float32


def mutate(line_no, new):
    lines = GOOD.splitlines()
    lines[line_no - 1] = new
    return "\n".join(lines) + "\n"


BAD = [
    ("missing file", None, {}, "no such file"),
    ("empty", "", {}, "empty"),
    ("zip checkpoint", b"PK\x03\x04rest-of-a-torch-zip", {}, "zip archive"),
    ("binary", b"time,a\x00\x01\x02\n", {}, "NUL"),
    ("not utf-8", b"time,temp\n1,\xff\xfe\n", {}, "UTF-8"),
    ("no header", "1,2,3\n4,5,6\n", {}, "line 1 must be a header"),
    ("duplicate columns", GOOD.replace("time,temp,power", "time,temp,temp"), {"targets": ["temp"]}, "duplicate"),
    ("missing target", GOOD, {"targets": ["pressure"]}, "'pressure'"),
    ("ragged row", mutate(5, "3,20.1"), {}, "line 5 has 2 fields"),
    ("non-numeric", mutate(7, "5,warm,6.0"), {}, "line 7, column 'temp' is 'warm'"),
    ("empty cell", mutate(9, "7,,6.0"), {}, "line 9, column 'temp' is empty"),
    ("nan", mutate(4, "2,nan,6.0"), {}, "line 4, column 'temp' is nan"),
    ("inf", mutate(4, "2,20.0,inf"), {}, "line 4, column 'power' is inf"),
    ("too few rows", GOOD, {"min_rows": 100}, "60 data rows, at least 100"),
    ("constant column", GOOD.replace(",5.", ",1.").replace(",6.", ",1.").replace(",7.", ",1.")
     .replace(",8.", ",1.").replace(",9.", ",1.").replace(",10.", ",1.").replace(",11.", ",1."), {}, "'power' is constant"),
    ("time goes back", mutate(10, "3,20.1,6.0"), {"time_column": "time"}, "line 10, column 'time'"),
    ("bad timestamp", mutate(3, "yesterday,20.1,6.0"), {"time_column": "time"}, "line 3, column 'time'"),
    ("bad label", GOOD.replace("time,temp,power", "time,temp,power,flag").replace("\n", ",0\n").replace("power,flag,0", "power,flag")
     .replace("3,20.30,8.0,0", "3,20.30,8.0,maybe"), {"label_column": "flag"}, "column 'flag' is 'maybe'"),
]


@pytest.mark.parametrize("case,content,kwargs,message", BAD, ids=[b[0] for b in BAD])
def test_bad_csv_is_exit_3_naming_the_problem(tmp_path, case, content, kwargs, message):
    path = tmp_path / "missing.csv" if content is None else write(tmp_path, content, binary=isinstance(content, bytes))
    args = {"targets": ["power"], "time_column": "time", "min_rows": 10} | kwargs
    if case in ("no header", "binary", "not utf-8", "zip checkpoint", "empty", "missing file"):
        args["time_column"] = None
    with pytest.raises(InvalidInputError) as e:
        load_csv(path, **args)
    assert e.value.exit_code == 3
    assert message in str(e.value), str(e.value)
    assert str(path) in str(e.value)
