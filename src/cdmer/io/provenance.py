"""What made a result: package versions and platform, stored in every output."""

import platform
import sys
from importlib.metadata import PackageNotFoundError, version

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
