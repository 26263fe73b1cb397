"""validate_params: scikit-learn's parameter validation, each scalar value checked once per class and parameter."""

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

from cdmer.adaptation import base
from cdmer.adaptation.base import validate_params
from cdmer.adaptation.drls import DRLS
from cdmer.adaptation.tgsr import TGSR
from cdmer.adaptation.tsrg import TSRG
from cdmer.errors import InputError

CASES = [(TSRG, {"mu": -1.0}), (TSRG, {"mu": 0.1, "solver": "newton"}), (TSRG, {"kernel": None}),
         (TSRG, {"max_iter": 0}), (TSRG, {"max_iter": 2.5}), (TGSR, {"n_selected": 0}),
         (TGSR, {"lam": float("nan")}), (TGSR, {"lam": "1"}), (DRLS, {"rho": True}),
         (TSRG, {"lam": np.float64(-2.0)}), (TSRG, {"gamma": 0})]


def _sklearn_message(est):
    with pytest.raises(InvalidParameterError) as err:
        est._validate_params()
    return str(err.value)


@pytest.mark.parametrize("cls, params", CASES)
def test_same_verdict_and_message_as_scikit_learn_after_valid_values_are_remembered(cls, params):
    validate_params(cls())                                      # the defaults, remembered as valid
    for value in (0.5, 1.0, 2.0, 7):
        validate_params(cls(lam=value))
    bad = cls(**params)
    expected = _sklearn_message(bad)
    param = expected.split("'")[1]
    for _ in range(2):                                         # an invalid value is never remembered
        with pytest.raises(InputError) as err:
            validate_params(bad)
        assert err.value.field == param and f"{param} must be " in str(err.value)
        assert str(err.value).split("; got ")[1] in expected
    valid_again = cls()
    validate_params(valid_again)
    valid_again._validate_params()                              # scikit-learn agrees


def test_remembered_values_are_per_class_and_per_type():
    validate_params(TSRG(max_iter=5))
    with pytest.raises(InputError, match="max_iter"):
        validate_params(TSRG(max_iter=5.0))                     # the float 5.0 is not the int 5
    validate_params(TGSR(n_selected=3))
    assert (TSRG, "max_iter", int, "5") in base._VALID and (TGSR, "max_iter", int, "5") not in base._VALID
    assert (TGSR, "n_selected", int, "3") in base._VALID and (TGSR, "n_selected", float, "3.0") not in base._VALID


def test_the_memory_is_bounded(monkeypatch):
    monkeypatch.setattr(base, "_VALID_MAX", 3)
    base._VALID.clear()
    for value in (0.1, 0.2, 0.3, 0.4, 0.5):
        validate_params(TSRG(mu=value))
    assert len(base._VALID) <= 3 + len(TSRG._parameter_constraints)
