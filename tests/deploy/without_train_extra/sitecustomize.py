"""Makes a Python process behave as if the ``train`` extra were not installed.

Put this directory on PYTHONPATH and list top-level module names in FORECAST_BLOCK_MODULES
(comma separated): importing any of them raises ModuleNotFoundError, as in the ``api`` Docker
image, which is built without TensorFlow, Keras, tf2onnx, onnx and scikit-learn.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

_BLOCKED = frozenset(filter(None, os.environ.get("FORECAST_BLOCK_MODULES", "").split(",")))


class _Blocker:
    @staticmethod
    def find_spec(
        name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        del path, target
        if name.split(".")[0] in _BLOCKED:
            raise ModuleNotFoundError(
                f"No module named {name!r} (not in the api image: it belongs to the train extra)",
                name=name,
            )
        return None


if _BLOCKED:
    sys.meta_path.insert(0, _Blocker())
