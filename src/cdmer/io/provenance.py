"""What made a result: package versions and platform, stored in every output, and content digests of arrays."""

import hashlib
import platform
import sys
from importlib.metadata import PackageNotFoundError, version

import numpy as np

_PACKAGES = ("cdmer", "numpy", "scipy", "scikit-learn", "numba", "opencv-python-headless",
             "qpsolvers", "clarabel", "h5py", "joblib")


def versions():
    """Return a dict of the versions of Python, the platform and the key packages."""
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in _PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def content_digest(*arrays):
    """A digest of arrays' contents (each one's dtype, shape and bytes): equal for equal arrays whatever
    their memory layout, different (but for hash collisions) otherwise. For in-process memos keyed by
    content."""
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()
