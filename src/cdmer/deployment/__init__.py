"""Deployment: the model bundle that ``cdmer fit`` writes and ``cdmer predict`` reads.

:class:`~cdmer.deployment.bundle.ModelBundle` holds the extraction record
(the target is extracted exactly as the source was), the method and its
parameters (chosen without target labels unless given), the data its
deterministic refit needs and the versions; the file cannot run code
(``.npz`` read with ``allow_pickle=False`` plus a JSON record). See
``docs/deployment.md``.
"""

from cdmer.deployment.bundle import FORMAT, FORMAT_VERSION, ModelBundle, load_model
from cdmer.deployment.methods import Method, select_params

__all__ = ["FORMAT", "FORMAT_VERSION", "ModelBundle", "load_model", "Method", "select_params"]
