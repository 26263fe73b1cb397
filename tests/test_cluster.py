"""cdmer.parallel on a real Dask cluster: a LocalCluster with 2 worker processes started here."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from cdmer.parallel import DaskExecutor, get_executor  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0",
                                  silence_logs=50) as c:
        yield c


def _tsrg_points(data, points):
    """A batch of real work: TSRG (ialm, few iterations) + the paper's SVM at several grid points."""
    import warnings

    from cdmer.adaptation.tsrg import TSRGClassifier

    Xs, ys, Xt = data["Xs"], data["ys"], data["Xt"]
    out = []
    for lam, mu in points:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")                     # capped iterations: ConvergenceWarning
            clf = TSRGClassifier(lam=lam, mu=mu, max_iter=30).fit(Xs, ys, Xt)
        out.append((clf.predict(Xt), clf.tsrg_.P_))
    return out


def _data():
    rng = np.random.default_rng(7)
    Xs = rng.normal(size=(30, 120))
    ys = np.repeat([1, 2, 3], 10)
    Xs[np.arange(30), ys * 5] += 3.0
    Xt = rng.normal(size=(20, 120)) + 0.2
    return {"Xs": Xs, "ys": ys, "Xt": Xt}


def test_cluster_run_equals_local_run(cluster):
    data = _data()
    grid = [(lam, mu) for lam in (0.1, 10.0) for mu in (0.01, 0.1)]
    tasks = [grid[i:i + 2] for i in range(0, len(grid), 2)]     # the caller batches points into tasks
    with get_executor(1) as ex:
        h = ex.scatter(data)
        local = dict(ex.imap_unordered(_tsrg_points, [(h, t) for t in tasks]))
    with get_executor(scheduler=cluster.scheduler_address) as ex:
        assert isinstance(ex, DaskExecutor) and ex.n_workers == 2
        h = ex.scatter(data)
        remote = dict(ex.imap_unordered(_tsrg_points, [(h, t) for t in tasks]))
    assert sorted(remote) == sorted(local) == list(range(len(tasks)))
    for i in local:
        assert not isinstance(remote[i], BaseException), remote[i]
        for (y_l, P_l), (y_r, P_r) in zip(local[i], remote[i]):
            np.testing.assert_array_equal(y_r, y_l)
            np.testing.assert_allclose(P_r, P_l, rtol=1e-9, atol=1e-12 * np.abs(P_l).max())


def _fails_on_odd(x):
    if x % 2:
        raise KeyError(f"odd {x}")
    return x * 10


def test_task_exceptions_come_back_as_results(cluster):
    with get_executor(scheduler=cluster.scheduler_address) as ex:
        out = dict(ex.imap_unordered(_fails_on_odd, [(i,) for i in range(6)]))
    assert {i: out[i] for i in (0, 2, 4)} == {0: 0, 2: 20, 4: 40}
    assert all(isinstance(out[i], KeyError) and f"odd {i}" in str(out[i]) for i in (1, 3, 5))


def _slow_task(folder, data, i):
    """Marks each start (a retried task starts twice), sleeps, returns a function of its inputs."""
    with open(os.path.join(folder, f"{i}-{os.getpid()}-{time.monotonic_ns()}.start"), "w"):
        pass
    time.sleep(0.6)
    return float(data[i].sum()) * 2


def test_killed_worker_loses_nothing(cluster, tmp_path):
    data = np.random.default_rng(1).normal(size=(12, 5000))
    n = data.shape[0]
    with get_executor(scheduler=cluster.scheduler_address) as ex:
        h = ex.scatter(data)
        pids = ex.client.run(os.getpid)                          # {worker address: pid}
        assert len(pids) == 2
        results, killed = {}, None
        for i, r in ex.imap_unordered(_slow_task, [(str(tmp_path), h, i) for i in range(n)]):
            results[i] = r
            if killed is None:                                   # both workers are busy: kill one mid-task
                busy = {f.name.split("-")[1] for f in tmp_path.glob("*.start")}
                victim = next(a for a, p in pids.items() if str(p) in busy and a in ex.client.processing())
                killed = pids[victim]
                os.kill(killed, signal.SIGKILL)
    assert killed is not None
    assert sorted(results) == list(range(n))
    for i, r in results.items():
        assert not isinstance(r, BaseException), r
        assert r == float(data[i].sum()) * 2
    starts = [f.name.split("-") for f in tmp_path.glob("*.start")]
    assert len(starts) > n, "no task was re-run: the kill did not interrupt a task"
    assert any(pid == str(killed) for _, pid, _ in starts)


# ---------------------------------------------------------------------------
# The command line on the cluster: same results as a local run
# ---------------------------------------------------------------------------

def _cdmer(*args, cwd):
    return subprocess.run([sys.executable, "-m", "cdmer.cli.main", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def _feature_files(folder):
    from cdmer.io.featureset import FeatureSet

    rng = np.random.default_rng(3)
    names = np.array(["negative", "positive", "surprise"])
    for db, shift, n in (("SRCDB", 0.0, 30), ("TGTDB", 0.5, 24)):
        y = np.repeat(np.arange(3), n // 3)
        X = np.abs(rng.normal(size=(n, 40)) + shift)
        X[np.arange(n), y * 4] += 1.2                          # separable enough to differ between points
        FeatureSet(X=X, labels=names[y], database=db).save(folder / f"{db}.npz")


_VOLATILE = {"time_s", "finished", "command", "jobs", "scheduler", "versions"}


def _stable(obj):
    """results.json without timings and the run's own command line / execution settings."""
    if isinstance(obj, dict):
        return {k: _stable(v) for k, v in obj.items() if k not in _VOLATILE}
    if isinstance(obj, list):
        return [_stable(v) for v in obj]
    return obj


def _differences(a, b, path=""):
    """Paths where ``a`` and ``b`` differ (floats to 1e-9 relative: a worker's BLAS runs one thread)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in _differences(a.get(k), b.get(k), f"{path}/{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (u, v) in enumerate(zip(a, b)) for d in _differences(u, v, f"{path}[{i}]")]
    if isinstance(a, float) and isinstance(b, float) and np.isclose(a, b, rtol=1e-9, atol=1e-12):
        return []                                             # floats: equal up to the last bits' rounding
    return [] if a == b else [f"{path}: {a!r:.80} != {b!r:.80}"]


def _strip_command(text):
    return "\n".join(line for line in text.splitlines() if "cdmer evaluate" not in line)


@pytest.mark.slow
def test_evaluate_on_cluster_equals_local_run(cluster, tmp_path):
    _feature_files(tmp_path)
    # TSRG on one experiment and DRFS-T on the other share their paths: one task each, run on one worker
    common = ["SRCDB.npz", "TGTDB.npz", "-e", "SRCDB:TGTDB", "TGTDB:SRCDB", "-m", "SVM,TSRG,DRFS-T",
              "--param", "TSRG.lam=0.1,10", "--param", "TSRG.mu=0.01,1", "--param", "DRFS-T.lam=0.1,10",
              "--param", "DRFS-T.mu=0.01,1", "--no-plots", "--quiet"]
    local = _cdmer("evaluate", *common, "-o", "local", cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    remote = _cdmer("evaluate", *common, "-o", "remote", "--scheduler", cluster.scheduler_address, cwd=tmp_path)
    assert remote.returncode == 0, remote.stderr
    a = json.loads((tmp_path / "local" / "results.json").read_text())
    b = json.loads((tmp_path / "remote" / "results.json").read_text())
    assert b["config"]["scheduler"] == cluster.scheduler_address
    assert len(a["points"]) >= 2 * (1 + 4 + 4)             # SVM + 2 x 2 grids of TSRG, DRFS-T (+ fixed points)
    n_tsrg = sum(p["method"] == "TSRG" for p in b["points"])
    assert sum(bool(p["info"].get("reused")) for p in b["points"]) == n_tsrg   # one of each TSRG, DRFS-T pair
    diffs = _differences(_stable(a), _stable(b))
    assert not diffs, diffs[:10]
    for name in ("tables.md", "tables.csv"):
        assert _strip_command((tmp_path / "remote" / name).read_text()) == \
            _strip_command((tmp_path / "local" / name).read_text()), name


def test_evaluate_unreachable_scheduler_is_one_line_exit_2(tmp_path):
    _feature_files(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    r = _cdmer("evaluate", "SRCDB.npz", "TGTDB.npz", "-m", "SVM", "--grid", "quick", "--no-plots", "--quiet",
               "-o", "out", "--scheduler", address, cwd=tmp_path)
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and address in lines[0] and "Traceback" not in r.stderr, r.stderr


@pytest.mark.slow
def test_extract_on_cluster_equals_local_run(cluster, tmp_path):
    import cv2

    from cdmer.io.featureset import load_features

    rng = np.random.default_rng(5)
    clips = []
    for c in range(4):
        folder = tmp_path / f"clip{c}"
        folder.mkdir()
        base = rng.integers(0, 256, size=(40, 48), dtype=np.uint8)
        for f in range(8):
            frame = np.clip(base.astype(int) + rng.integers(-20, 21, size=base.shape), 0, 255).astype(np.uint8)
            cv2.imwrite(str(folder / f"img{f:03d}.png"), frame)
        clips.append(folder.name)  # relative to the CLI's cwd: the client sends absolute paths to the workers
    args = [*clips, "--no-face", "--grid", "1", "2", "--quiet"]
    local = _cdmer("extract", *args, "-o", "local.npz", cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    remote = _cdmer("extract", *args, "-o", "remote.npz", "--scheduler", cluster.scheduler_address, cwd=tmp_path)
    assert remote.returncode == 0, remote.stderr
    a, b = load_features(tmp_path / "local.npz"), load_features(tmp_path / "remote.npz")
    assert a.X.shape[0] == 4 and np.abs(a.X).sum() > 0
    np.testing.assert_array_equal(b.X, a.X)
    assert list(b.sample_ids) == list(a.sample_ids)
