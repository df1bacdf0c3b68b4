"""qiml.series: the .ts parser and the loader that reads aeon's wheel (here a wheel built by the test)."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from qiml import ConfigError
from qiml.datasets import DataNotFoundError
from qiml.series import load_ucr, read_ts

UNIVARIATE = """# a comment
@problemName Toy
@univariate true
@classLabel true a b
@data
1.0,2.0,3.0:a
-1,0.5,2e1:b
"""
MULTIVARIATE = """@problemName Toy2
@dimensions 2
@data
1,2:3,4:x
5,6:7,8:y
"""


def test_read_ts_univariate_and_multivariate():
    X, y = read_ts(UNIVARIATE)
    assert X.shape == (2, 1, 3) and y.tolist() == ["a", "b"]
    np.testing.assert_array_equal(X[1, 0], [-1.0, 0.5, 20.0])
    X2, y2 = read_ts(MULTIVARIATE)
    assert X2.shape == (2, 2, 2) and X2[1, 1].tolist() == [7.0, 8.0] and y2.tolist() == ["x", "y"]


@pytest.mark.parametrize("text, match", [("@problemName x\n1,2:a\n", "no @data line"),
                                         ("@data\n1,2:a\n1,2,3:b\n", "unequal length"),
                                         ("@data\n1,?:a\n", "not a number")])
def test_read_ts_refuses_what_it_cannot_read(text, match):
    with pytest.raises(ConfigError, match=match):
        read_ts(text, source="bad.ts")


def test_load_ucr_reads_the_cached_wheel(tmp_path):
    with zipfile.ZipFile(tmp_path / "aeon-1.6.0-py3-none-any.whl", "w") as zf:
        zf.writestr("aeon/datasets/data/Toy/Toy_TRAIN.ts", UNIVARIATE)
        zf.writestr("aeon/datasets/data/Toy/Toy_TEST.ts", UNIVARIATE.replace("1.0,2.0", "9.0,9.0"))
    X, y = load_ucr("Toy", cache=tmp_path, download=False)
    Xt, _ = load_ucr("Toy", "test", cache=tmp_path, download=False)
    assert X.shape == Xt.shape == (2, 1, 3) and Xt[0, 0, 0] == 9.0 and y[0] == "a"
    with pytest.raises(ConfigError, match=r"no problem 'GunPoint'; it has \['Toy'\]"):
        load_ucr("GunPoint", cache=tmp_path, download=False)
    with pytest.raises(ConfigError, match="split must be"):
        load_ucr("Toy", "valid", cache=tmp_path, download=False)


def test_missing_wheel_without_download_says_how_to_get_it(tmp_path):
    with pytest.raises(DataNotFoundError, match="python -m qiml.series"):
        load_ucr("GunPoint", cache=tmp_path, download=False)
