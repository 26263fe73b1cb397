"""Parallel execution: inline, local processes (joblib / loky) or a Dask cluster.

One interface for the three::

    with get_executor(jobs=1, scheduler=None) as ex:
        handle = ex.scatter(big_readonly_object)        # once per object
        for index, result in ex.imap_unordered(fn, [(handle, 0), (handle, 1), ...]):
            ...   # in completion order; result is the exception instance if fn raised

- ``jobs == 1`` and no scheduler: every task runs inline, in the caller's
  process, in plan order (no pool, no pickling).
- ``jobs > 1`` (or ``-1``: all cores): joblib's loky worker processes.
  ``scatter`` returns the object itself; joblib memory-maps the NumPy arrays
  inside task arguments (larger than 1 MB) instead of pickling them, so a
  feature set is written once to a temporary file per distinct array, not
  copied into every task (each task still hashes it: keep tasks coarse).
  Each worker limits its BLAS / OpenMP / numba threads to
  ``max(1, cpu_count // jobs)`` (no oversubscription: ``jobs`` workers on
  ``cpu_count`` cores; 1 with ``single_thread``), and exits when its parent dies (see
  :func:`_init_local_worker`).
- ``scheduler="tcp://host:port"`` (or a ``distributed.Client``): the tasks
  run on that Dask cluster. ``scatter`` sends the object once to every worker
  (``client.scatter(obj, broadcast=True)``); tasks carry only the handle, the
  function (pickled by reference) and their small arguments. Tasks are
  submitted with ``retries``; a task whose worker dies mid-run is re-run by
  the scheduler on another worker (Dask's ``allowed-failures`` decides how
  many deaths a task may cause before it is declared a ``KilledWorker``,
  which is then yielded as the task's result). Each task runs with one
  numba / BLAS thread: on Dask the parallelism is the workers' threads, so
  start one worker thread per core (Dask's own convention). ``jobs`` is
  ignored: the cluster's size decides.

``single_thread=True`` (what the evaluation protocol and ``cdmer fit``
ask for): every task runs with one BLAS / OpenMP / numba thread, inline
and in local workers as on Dask. Multi-threaded BLAS sums in another order
than single-threaded BLAS, so this is what makes a task's floating-point
result (to the last bit) independent of ``jobs`` and of the cluster; use
``jobs`` to use the cores.

Task granularity is the caller's: every task costs a fixed overhead (Dask:
about a millisecond of scheduling plus the transfer of its arguments and
result; loky: the pickling and hashing of its arguments), so group small
work items (e.g. grid points) into tasks of at least a fraction of a second.
``benchmarks/bench_scale.py`` measures it; ``docs/cluster.md`` has the
figures.

Dask is an optional dependency (``pip install "cdmer[dask]"``), imported
only when a scheduler is given.
"""

import os
import sys
import threading

from cdmer.errors import InputError

__all__ = ["get_executor", "InlineExecutor", "LocalExecutor", "DaskExecutor"]

#: seconds the Dask client waits for the scheduler before giving up
CONNECT_TIMEOUT = 10.0
#: default number of retries of a Dask task
RETRIES = 3


def get_executor(jobs=1, scheduler=None, *, retries=RETRIES, connect_timeout=CONNECT_TIMEOUT, single_thread=False):
    """Return an executor (a context manager) for ``jobs`` local processes or a Dask cluster.

    Parameters
    ----------
    jobs : int
        Local worker processes (``1``: inline in the caller's process, ``-1``:
        one per core). Ignored when ``scheduler`` is given.
    scheduler : str or distributed.Client, optional
        Address of a Dask scheduler (``"tcp://10.0.0.5:8786"``), or a
        connected ``distributed.Client`` (then not closed on exit).
    retries : int
        Dask only: how many times a task that failed outside the task
        function (e.g. its arguments could not be deserialised) is retried.
    connect_timeout : float
        Dask only: seconds to wait for the scheduler.
    single_thread : bool
        Run every task with one BLAS / numba thread wherever it runs (Dask
        tasks always do), so results do not depend on ``jobs`` or the
        cluster (see the module docstring).

    Raises
    ------
    InputError
        ``jobs`` is 0 or below -1; Dask is not installed; the scheduler
        cannot be reached (the message names the address).
    """
    if scheduler is None or (isinstance(scheduler, str) and not scheduler.strip()):
        jobs = _check_jobs(jobs)
        return InlineExecutor(single_thread) if jobs == 1 else LocalExecutor(jobs, single_thread)
    return DaskExecutor(scheduler, retries=retries, connect_timeout=connect_timeout)


def _check_jobs(jobs):
    try:
        j = int(jobs)
    except (TypeError, ValueError):
        raise InputError(f"must be a positive integer or -1, got {jobs!r}", field="jobs") from None
    if j != jobs or j == 0 or j < -1:
        raise InputError(f"must be a positive integer or -1, got {jobs!r}", field="jobs")
    return (os.cpu_count() or 1) if j == -1 else j


def _run_task(fn, index, args):
    """Run one task; return ``(index, result)``, the result being the exception if ``fn`` raised."""
    try:
        return index, fn(*args)
    except Exception as exc:                                  # the caller records it and goes on
        return index, _picklable(exc)


def _picklable(exc):
    """``exc`` itself if it pickles, else a RuntimeError carrying its type and message."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


class _Executor:
    """Common context-manager behaviour."""

    #: number of tasks that may run at once (informative)
    n_workers = 1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        pass

    def scatter(self, obj):
        """Make ``obj`` (large, read-only) available to the tasks; pass the returned handle as an argument."""
        return obj


class InlineExecutor(_Executor):
    """Every task in the caller's process, in the order given (one BLAS / numba thread if ``single_thread``)."""

    def __init__(self, single_thread=False):
        self.single_thread = bool(single_thread)

    def imap_unordered(self, fn, args_list):
        for i, args in enumerate(args_list):
            if not self.single_thread:
                yield _run_task(fn, i, tuple(args))
                continue
            with _one_thread():                               # limits off again while the caller handles it
                result = _run_task(fn, i, tuple(args))
            yield result


class _one_thread:
    """Context: one BLAS / OpenMP thread (threadpoolctl) and one numba thread, restored on exit."""

    def __enter__(self):
        from threadpoolctl import threadpool_limits

        self._blas = threadpool_limits(limits=1)
        try:
            import numba

            self._numba = numba.get_num_threads()
            numba.set_num_threads(1)
        except Exception:
            self._numba = None
        return self

    def __exit__(self, *exc):
        if self._numba is not None:
            import numba

            numba.set_num_threads(self._numba)
        self._blas.restore_original_limits()
        return False


# ---------------------------------------------------------------------------
# Local processes (joblib / loky)
# ---------------------------------------------------------------------------

#: seconds between two checks of the parent by a local worker's watchdog
WATCHDOG_PERIOD = 0.5


def _init_local_worker(parent_pid):
    """loky worker initializer: exit when the parent process dies.

    Two mechanisms, because each alone has a hole:

    1. Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the worker
       when its parent dies, even while the worker is inside a long C call
       holding the GIL. (The kernel ties it to the parent *thread* that
       started the worker; loky starts workers from the thread that submits
       or from its own manager thread, both alive as long as the pool.)
    2. A daemon thread polling ``os.getppid()`` every
       :data:`WATCHDOG_PERIOD` seconds: once the parent is gone the worker
       is re-parented and the pid changes; the thread then calls
       ``os._exit``. Works on every POSIX system.

    If the parent died before this ran, exit at once.
    """
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            PR_SET_PDEATHSIG = 1
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except Exception:                                     # no prctl: the watchdog still works
            pass
    if os.name == "posix":
        if os.getppid() != parent_pid:
            os._exit(1)

        def watch():
            import time

            while True:
                time.sleep(WATCHDOG_PERIOD)
                if os.getppid() != parent_pid:
                    os._exit(1)

        threading.Thread(target=watch, name="cdmer-parent-watchdog", daemon=True).start()


class LocalExecutor(_Executor):
    """``jobs`` loky worker processes (joblib), results in completion order."""

    def __init__(self, jobs, single_thread=False):
        self.n_workers = int(jobs)
        self.threads_per_worker = 1 if single_thread else max(1, (os.cpu_count() or 1) // self.n_workers)

    def imap_unordered(self, fn, args_list):
        from joblib import Parallel, delayed, parallel_config

        args_list = [tuple(a) for a in args_list]
        if not args_list:
            return
        # the backend (with its worker settings) is bound when Parallel is built: the setting does not
        # leak to the caller's code between results
        with parallel_config(backend="loky", inner_max_num_threads=self.threads_per_worker,
                             initializer=_init_local_worker, initargs=(os.getpid(),)):
            runner = Parallel(n_jobs=self.n_workers, return_as="generator_unordered", batch_size=1,
                              pre_dispatch="2*n_jobs")
        yield from runner(delayed(_run_task)(fn, i, a) for i, a in enumerate(args_list))


# ---------------------------------------------------------------------------
# Dask
# ---------------------------------------------------------------------------

_limited = threading.local()
_blas_limited = []


def _limit_threads():
    """One numba thread for this worker thread, one BLAS thread for this process (Dask tasks)."""
    if getattr(_limited, "done", False):
        return
    try:
        import numba

        numba.set_num_threads(1)                              # per calling thread
    except Exception:
        pass
    if not _blas_limited:
        try:
            from threadpoolctl import threadpool_limits

            _blas_limited.append(threadpool_limits(limits=1))  # process-wide, kept for the worker's life
        except Exception:
            _blas_limited.append(None)
    _limited.done = True


def _run_dask_task(fn, index, args):
    _limit_threads()
    return _run_task(fn, index, args)


def _import_distributed():
    try:
        import distributed
    except ImportError as exc:
        raise InputError(f"Dask is not installed ({exc}); install cdmer[dask] "
                         "(pip install \"cdmer[dask]\")", field="--scheduler") from None
    return distributed


def _probe(address, timeout):
    """Open (and close) a TCP connection to a ``tcp://`` / ``tls://`` scheduler address.

    A failed ``distributed.Client`` leaves an object whose finaliser prints
    a traceback at exit; probing first keeps the usual errors (bad address,
    unknown host, nothing listening) to the one line of an InputError.
    """
    import socket

    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import get_backend

    scheme, location = parse_address(address)
    get_backend(scheme)                                       # ValueError naming the known schemes
    if scheme in ("tcp", "tls"):
        host, port = parse_host_port(location, default_port=8786)
        socket.create_connection((host, port), timeout=timeout).close()


class DaskExecutor(_Executor):
    """Tasks on a Dask cluster through ``distributed.Client``."""

    def __init__(self, scheduler, *, retries=RETRIES, connect_timeout=CONNECT_TIMEOUT):
        distributed = _import_distributed()
        self.retries = int(retries)
        self._own_client = not isinstance(scheduler, distributed.Client)
        if self._own_client:
            address = str(scheduler).strip()
            try:
                _probe(address, connect_timeout)
                self.client = distributed.Client(address, timeout=connect_timeout, set_as_default=False)
            except Exception as exc:                          # OSError, TimeoutError, ValueError (bad address), ...
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise InputError(f"cannot connect to the Dask scheduler at {address} ({reason}; "
                                 f"waited at most {connect_timeout:g} s)", field="--scheduler") from None
        else:
            self.client = scheduler
        self.address = self.client.scheduler.address
        self._scattered = []
        try:
            self.n_workers = max(1, sum(w["nthreads"] for w in
                                        self.client.scheduler_info()["workers"].values()))
        except Exception:
            self.n_workers = 1

    def scatter(self, obj):
        """Send ``obj`` to every worker once; returns a future to pass as a task argument."""
        fut = self.client.scatter(obj, broadcast=True, hash=False)
        self._scattered.append(fut)
        return fut

    def imap_unordered(self, fn, args_list):
        distributed = _import_distributed()
        args_list = [tuple(a) for a in args_list]
        if not args_list:
            return
        futures = self.client.map(_run_dask_task, [fn] * len(args_list), range(len(args_list)), args_list,
                                  retries=self.retries, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        pending = set(futures)
        try:
            for fut in distributed.as_completed(futures, loop=self.client.loop):
                pending.discard(fut)
                try:
                    i, result = fut.result()
                except Exception as exc:                      # e.g. KilledWorker, or a failed retry
                    i, result = index[fut.key], exc
                fut.release()
                yield i, result
        finally:
            if pending:
                self.client.cancel(list(pending))

    def close(self):
        for fut in self._scattered:
            try:
                fut.release()
            except Exception:
                pass
        self._scattered = []
        if self._own_client:
            self.client.close()
