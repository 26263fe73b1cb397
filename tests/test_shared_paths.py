"""TSRG on A -> B and DRFS-T on B -> A share their homotopy paths (one tsrg_path call, reused by content)."""

import warnings

import numpy as np
import pytest

from cdmer.adaptation import tsrg
from cdmer.adaptation.tsrg import shared_paths, tsrg_path
from cdmer.da.registry import get_method, task_groups, work_key
from cdmer.evaluation.protocol import Experiment, run_protocol
from cdmer.io.featureset import FeatureSet


def _rows(seed, n=9, d=12, shift=0.0):
    return np.random.default_rng(seed).normal(loc=shift, size=(n, d))


def _feature_set(seed, shift, name):
    y = np.array(["negative", "positive", "surprise"] * 4)
    return FeatureSet(X=_rows(seed, n=12, shift=shift), labels=y, database=name)


def test_a_call_equal_in_content_is_reused_and_anything_else_recomputes(monkeypatch):
    calls = []
    real = tsrg._tsrg_path
    monkeypatch.setattr(tsrg, "_tsrg_path", lambda *a: calls.append(a) or real(*a))
    Xs, Xt = _rows(0), _rows(1, shift=0.5)
    mus = [0.1, 0.01]
    plain, plain_info = tsrg_path(Xs, Xt, 1.0, mus)
    with shared_paths():
        first, info1 = tsrg_path(Xs, Xt, 1.0, mus)
        again, info2 = tsrg_path(Xs.copy(), Xt.copy(), 1.0, mus)          # other arrays, same content
        assert len(calls) == 2
        assert all(a is b for a, b in zip(first, again)) and not again[0].flags.writeable
        assert [i.get("reused") for i in info2] == [True, True] and "reused" not in info1[0]
        tsrg_path(Xs, Xt, 1.0, mus[::-1])                                  # mus in another order
        tsrg_path(Xs, Xt, 10.0, mus)                                       # another lambda
        tsrg_path(Xs, Xt, 1.0, mus, kernel="rbf")                          # another setting
        Xt2 = Xt.copy()
        Xt2[3, 4] += 1e-12
        tsrg_path(Xs, Xt2, 1.0, mus)                                       # another content
        assert len(calls) == 6
    assert tsrg.shared_store() is None                                            # the store ends with the block
    for a, b, c in zip(plain, first, again):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    drop = lambda infos: [{k: v for k, v in i.items() if k not in ("time_s", "reused")} for i in infos]  # noqa: E731
    assert drop(plain_info) == drop(info1) == drop(info2)


def test_the_warnings_of_a_shared_computation_are_raised_again():
    Xs, Xt = _rows(2), _rows(3, shift=0.5)
    with shared_paths():
        with warnings.catch_warnings(record=True) as first:
            warnings.simplefilter("always")
            tsrg_path(Xs, Xt, 1.0, [0.001], solver="ialm", max_iter=2)   # stopped at the cap: a warning
        with warnings.catch_warnings(record=True) as again:
            warnings.simplefilter("always")
            tsrg_path(Xs, Xt, 1.0, [0.001], solver="ialm", max_iter=2)
    assert first and [str(w.message) for w in again] == [str(w.message) for w in first]


@pytest.mark.parametrize("solver", ["exact", "ialm"])
def test_tsrg_and_drfst_of_reversed_experiments_have_equal_work_keys(solver):
    tsrg_spec, drfst_spec = get_method("TSRG"), get_method("DRFS-T")
    points = [{"lam": 1.0, "mu": 0.1, "solver": solver}, {"lam": 1.0, "mu": 0.01, "solver": solver}]
    for a, b in zip(task_groups(tsrg_spec, points), task_groups(drfst_spec, points)):
        assert work_key(tsrg_spec, a, "A", "B") == work_key(drfst_spec, b, "B", "A") is not None
        assert work_key(tsrg_spec, a, "A", "B") != work_key(drfst_spec, b, "A", "B")
    other = [dict(p, kernel="rbf") for p in points]
    assert work_key(tsrg_spec, points, "A", "B") != work_key(drfst_spec, other, "B", "A")
    assert work_key(get_method("DRLS"), points, "A", "B") is None


def test_protocol_computes_each_path_once_with_the_results_of_separate_runs(tmp_path, monkeypatch):
    calls = []
    real = tsrg._tsrg_path
    monkeypatch.setattr(tsrg, "_tsrg_path", lambda *a: calls.append(a[2]) or real(*a))
    a, b = _feature_set(0, 0.0, "A"), _feature_set(1, 0.7, "B")
    custom = {m: {"lam": [0.1, 1.0], "mu": [0.01, 0.1]} for m in ("TSRG", "DRFS-T")}
    overrides = {m: {"solver": "exact"} for m in ("TSRG", "DRFS-T")}
    common = dict(grid="quick", overrides=overrides, custom=custom, progress=False)
    alone = [run_protocol([Experiment(s, t)], [m], tmp_path / f"{s.database}{t.database}{m}", **common)
             for s, t in ((a, b), (b, a)) for m in ("TSRG", "DRFS-T")]
    assert len(calls) == 8                                    # 2 lambdas x 4 runs
    calls.clear()
    together = run_protocol([Experiment(a, b), Experiment(b, a)], ["TSRG", "DRFS-T"], tmp_path / "all", **common)
    assert len(calls) == 4                                    # 2 lambdas x 2 directions: each path once

    def strip(records):
        return [dict(r, finished=None, origin=None, info={k: v for k, v in r["info"].items()
                                                         if k not in ("time_s", "reused")})
                for r in records]

    assert strip(together) == strip([r for records in alone for r in records])
    reused = [r for r in together if r["info"].get("reused")]
    # the later of each pair in plan order reuses: DRFS-T and TSRG on B -> A (TSRG and DRFS-T on A -> B compute)
    assert [r for r in together if r["experiment"] == "B->A"] == reused and len(reused) == len(together) // 2


def test_each_thread_has_its_own_store():
    import threading

    seen = {}
    inside, done = threading.Event(), threading.Event()

    def other():
        inside.wait()
        seen["outside"] = tsrg.shared_store()                 # the main thread is inside its block
        with shared_paths():
            seen["own"] = tsrg.shared_store()
        done.set()

    thread = threading.Thread(target=other)
    thread.start()
    with shared_paths():
        mine = tsrg.shared_store()
        mine["marker"] = 1
        inside.set()
        done.wait()
        assert tsrg.shared_store() is mine and mine == {"marker": 1}
    thread.join()
    assert seen["outside"] is None and seen["own"] == {} and seen["own"] is not mine


def test_content_digest_follows_content_not_layout():
    from cdmer.io.provenance import content_digest

    X = _rows(4)
    assert content_digest(X) == content_digest(np.asfortranarray(X)) == content_digest(X.copy())
    nudged = X.copy()
    nudged[2, 3] = np.nextafter(nudged[2, 3], np.inf)                     # one bit of one value
    others = [X.astype(np.float32), X.reshape(X.shape[1], X.shape[0]), X[:-1], nudged]
    assert len({content_digest(X), *map(content_digest, others)}) == 1 + len(others)
    assert content_digest(X, X[:2]) != content_digest(X[:2], X)
