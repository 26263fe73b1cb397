"""cdmer.parallel: inline and local executors, errors, and workers that die with their parent."""

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from cdmer.errors import InputError
from cdmer.parallel import InlineExecutor, LocalExecutor, get_executor


def _row_stat(X, i, scale):
    if i == 3:
        raise ValueError(f"task {i} fails")
    return float(scale * np.abs(X[i]).max()), os.getpid()


def test_inline_runs_in_order_in_process_and_returns_exceptions():
    X = np.arange(20.0).reshape(5, 4)
    with get_executor(1) as ex:
        assert isinstance(ex, InlineExecutor)
        h = ex.scatter(X)
        assert h is X
        out = list(ex.imap_unordered(_row_stat, [(h, i, 2.0) for i in range(5)]))
    assert [i for i, _ in out] == [0, 1, 2, 3, 4]
    assert isinstance(out[3][1], ValueError) and "task 3 fails" in str(out[3][1])
    for i, r in out:
        if i != 3:
            assert r == (2.0 * X[i].max(), os.getpid())


def test_local_processes_give_every_result_once():
    X = np.random.default_rng(0).normal(size=(12, 300_000))     # 29 MB: memory-mapped by joblib
    with get_executor(2) as ex:
        assert isinstance(ex, LocalExecutor) and ex.threads_per_worker == max(1, (os.cpu_count() or 1) // 2)
        h = ex.scatter(X)
        out = list(ex.imap_unordered(_row_stat, [(h, i, 3.0) for i in range(12)]))
    assert sorted(i for i, _ in out) == list(range(12))
    res = dict(out)
    assert isinstance(res[3], ValueError)
    for i in range(12):
        if i != 3:
            value, pid = res[i]
            assert value == 3.0 * np.abs(X[i]).max()
            assert pid != os.getpid()


def _task_threads(i):
    import numba
    from threadpoolctl import threadpool_info

    return max(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"), numba.get_num_threads()


@pytest.mark.parametrize("jobs", [1, 2])
def test_single_thread_tasks_whatever_jobs(jobs):
    # the protocol's tasks see one BLAS and one numba thread inline as in workers (the same arithmetic,
    # so the same bits, whatever --jobs); inline, the caller's own limits come back after each task
    import numba
    from threadpoolctl import threadpool_info

    def current():
        return {p["filepath"]: p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}, \
            numba.get_num_threads()

    before = current()
    with get_executor(jobs, single_thread=True) as ex:
        out = dict(ex.imap_unordered(_task_threads, [(i,) for i in range(4)]))
        assert current() == before
    assert sorted(out) == [0, 1, 2, 3] and set(out.values()) == {(1, 1)}


@pytest.mark.parametrize("jobs", [0, -2, 1.5, "two"])
def test_bad_jobs(jobs):
    with pytest.raises(InputError, match="jobs"):
        get_executor(jobs)


def test_all_cores():
    ex = get_executor(-1)
    assert ex.n_workers == (os.cpu_count() or 1) or isinstance(ex, InlineExecutor)


def test_dask_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)     # import distributed -> ImportError
    with pytest.raises(InputError, match=r"cdmer\[dask\]"):
        get_executor(scheduler="tcp://127.0.0.1:8786")


def test_unreachable_scheduler_names_the_address():
    with socket.socket() as s:                                  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    t = time.monotonic()
    with pytest.raises(InputError, match=address.replace(".", r"\.")):
        get_executor(scheduler=address, connect_timeout=1.0)
    assert time.monotonic() - t < 30


# A parent that starts two loky workers on endless tasks; the test SIGKILLs it.
PARENT = textwrap.dedent("""
    import os, sys, time
    from cdmer.parallel import get_executor

    def spin(folder, i, hold_gil):
        with open(os.path.join(folder, f"{os.getpid()}.pid"), "w") as fh:
            fh.write("started")
        if hold_gil:                      # one long C call holding the GIL: only PDEATHSIG can stop it
            import re
            re.match(r"(a+)+$", "a" * 60 + "b")
        while True:                       # pure Python: the watchdog thread gets the GIL
            sum(range(10000))

    if __name__ == "__main__":
        folder, hold = sys.argv[1], sys.argv[2] == "1"
        with get_executor(2) as ex:
            for _ in ex.imap_unordered(spin, [(folder, i, hold) for i in range(2)]):
                pass
""")


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("hold_gil", [False, True], ids=["python-loop", "gil-held"])
def test_workers_exit_when_parent_is_killed(tmp_path, hold_gil):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path), "1" if hold_gil else "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("*.pid"))) < 2:
            assert proc.poll() is None, "the parent exited early"
            assert time.monotonic() < deadline, "workers did not start"
            time.sleep(0.1)
        pids = [int(p.stem) for p in tmp_path.glob("*.pid")]
        assert all(_alive(p) for p in pids)
        assert proc.pid not in pids
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        alive = [p for p in pids if _alive(p)]
    finally:
        for p in [int(p.stem) for p in tmp_path.glob("*.pid")]:
            if _alive(p):
                os.kill(p, signal.SIGKILL)                      # never leave a spinning worker behind
        if proc.poll() is None:
            proc.kill()
    assert not alive, f"workers {alive} outlived their killed parent"
