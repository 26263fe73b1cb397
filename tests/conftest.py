"""Shared fixtures.

Data that may not be redistributed (real features, reference histograms, the
test video) is read in place from ``../shared`` beside the checkout (or from
``$CDMER_SHARED``). Tests that need it skip with a reason when it is absent;
with ``CDMER_REQUIRE_SHARED=1`` (set by ``.ci/run``) they fail instead.
"""

import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("CDMER_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))


def need_shared(relative):
    """Return ``SHARED / relative``, skipping (or failing in CI) when absent."""
    path = SHARED / relative
    if not path.exists():
        reason = f"needs {path} (the shared data beside the checkout), which is absent"
        if os.environ.get("CDMER_REQUIRE_SHARED") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture
def real_features():
    """Folder of the published real LBP-TOP features (CASME2, SMIC_VIS, SMIC_NIR)."""
    return need_shared("data/real-features")


@pytest.fixture
def lbptop_reference():
    """Folder of the reference MATLAB LBP-TOP histograms."""
    return need_shared("data/lbptop-reference")


@pytest.fixture
def carphone_video():
    """The real face video ``carphone.mp4``."""
    return need_shared("data/videos/carphone.mp4")
