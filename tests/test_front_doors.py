"""One validation layer: the same mistake fails the same way (error type and message) at every front door:
``QiML`` (ask/tell), ``minimize``, ``fit_network``, the scikit-learn estimators and the torch optimizer."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import qiml
from qiml import QimlError
from qiml.nn import MLP
from qiml.sklearn import QiMLClassifier, QiMLRegressor
from qiml.training import fit_network

torch = pytest.importorskip("torch")
from qiml.torch import QiMLOptimizer  # noqa: E402

X = np.random.default_rng(0).normal(size=(24, 2))
y = X[:, 0] - X[:, 1]
labels = (y > 0).astype(int)
B = [(-1.0, 1.0)] * 2


def sphere(x):
    return float(np.sum(np.asarray(x) ** 2))


def torch_step(**kw):
    model = torch.nn.Linear(2, 1)
    opt = QiMLOptimizer(model.parameters(), **kw)
    opt.step(lambda: float(model.weight.sum()))


#: door name -> how it takes (budgets, seed, engine options)
DOORS = {
    "QiML": lambda budgets, seed, opts: qiml.QiML(B, **budgets, **seed, **opts),
    "minimize": lambda budgets, seed, opts: qiml.minimize(sphere, B, **budgets, **seed, **opts),
    "fit_network": lambda budgets, seed, opts: fit_network(MLP([2, 3, 1]), X, y, **budgets, **seed, **opts),
    "QiMLRegressor": lambda budgets, seed, opts: QiMLRegressor(
        hidden_layer_sizes=(3,), **budgets, **({"random_state": seed["seed"]} if seed else {}),
        qiml_options=opts or None).fit(X, y),
    "QiMLClassifier": lambda budgets, seed, opts: QiMLClassifier(
        hidden_layer_sizes=(3,), **budgets, **({"random_state": seed["seed"]} if seed else {}),
        qiml_options=opts or None).fit(X, labels),
    "QiMLOptimizer": lambda budgets, seed, opts: torch_step(**budgets, **seed, **opts),
}
SKLEARN = ("QiMLRegressor", "QiMLClassifier")

#: (what, budgets, seed, engine options); every door gets the same mistake
MISTAKES = [
    ("max_evals as a string", {"max_evals": "500"}, {}, {}),
    ("max_evals zero", {"max_evals": 0}, {}, {}),
    ("max_evals fractional", {"max_evals": 2.5}, {}, {}),
    ("max_evals a bool", {"max_evals": True}, {}, {}),
    ("max_iter negative", {"max_evals": 500, "max_iter": -3}, {}, {}),
    ("max_time as a string", {"max_time": "1"}, {}, {}),
    ("max_time zero", {"max_time": 0.0}, {}, {}),
    ("max_time infinite", {"max_time": float("inf")}, {}, {}),
    ("seed as a string", {"max_evals": 500}, {"seed": "1"}, {}),
    ("seed fractional", {"max_evals": 500}, {"seed": 1.5}, {}),
    ("hbar as a string", {"max_evals": 500}, {}, {"hbar": "0.01"}),
    ("hbar zero", {"max_evals": 500}, {}, {"hbar": 0.0}),
    ("nx too small", {"max_evals": 500}, {}, {"nx": 2}),
    ("nx fractional", {"max_evals": 500}, {}, {"nx": 64.0}),
    ("workers zero", {"max_evals": 500}, {}, {"workers": 0}),
    ("unknown option", {"max_evals": 500}, {}, {"hbar_max": 1.0}),
    ("unknown search", {"max_evals": 500}, {}, {"search": "genetic"}),
    ("unknown solver", {"max_evals": 500}, {}, {"solver": "schroedinger"}),
    ("nan_policy", {"max_evals": 500}, {}, {"nan_policy": "zero"}),
    ("shrink out of range", {"max_evals": 500}, {}, {"shrink": 1.5}),
    ("mixing as a string", {"max_evals": 500}, {}, {"mixing": "0.5"}),
]


def error_of(fn) -> tuple[type, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(QimlError) as info:
            fn()
    return type(info.value), str(info.value)


@pytest.mark.parametrize("what, budgets, seed, opts", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_the_same_mistake_fails_the_same_way_everywhere(what, budgets, seed, opts):
    expected = error_of(lambda: DOORS["QiML"](budgets, seed, opts))
    for door, call in DOORS.items():
        if door in SKLEARN and seed:
            continue   # scikit-learn's random_state has its own contract (ints, RandomState, None)
        assert error_of(lambda call=call: call(budgets, seed, opts)) == expected, door


def test_random_state_follows_scikit_learn():
    """The estimators take what scikit-learn takes for random_state and refuse the rest clearly."""
    with pytest.raises(QimlError, match="random_state"):
        QiMLRegressor(hidden_layer_sizes=(3,), random_state="1", max_evals=500).fit(X, y)
    QiMLRegressor(hidden_layer_sizes=(3,), random_state=np.random.RandomState(0), max_evals=500).fit(X, y)
