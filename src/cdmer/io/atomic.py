"""Atomic file writes: a file is either absent or complete, never half written.

Long jobs (extraction, grid searches) write each result through these helpers
so that an interrupted run can resume from what is on disk.
"""

import contextlib
import json
import os
import tempfile
import threading
from pathlib import Path

_UMASK_LOCK = threading.Lock()


def _file_mode():
    """The mode a new file gets from ``open()`` under the current umask (0o666 & ~umask).

    :func:`tempfile.mkstemp` creates its file 0600 whatever the umask; the
    finished file is given this mode instead, as any other program's output
    would have. (Reading the umask means setting it; the lock keeps this
    module's threads from racing on it.)
    """
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; move it onto ``path`` on success.

    The temporary file lives in the same folder so that :func:`os.replace` is
    atomic. On an exception the temporary file is removed and ``path`` is left
    as it was. The finished file has the mode the umask gives new files.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path, text):
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path, obj):
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=json_default) + "\n")


def json_default(obj):
    """``json.dumps``' ``default``: NumPy scalars and arrays, paths; anything else is an error."""
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
