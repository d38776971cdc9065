"""Predicted physiology of delivered patterns: models, never measurements.

Needs the optional ``[model]`` extra (numpy, scipy and matplotlib). The daemon never imports
this package; commands that use it call :func:`require_model_extra` first, so a missing extra
is one clear line instead of a traceback.
"""

from __future__ import annotations

import importlib

MODEL_EXTRA_HINT = "install pumpctl[model] (pip install 'pumpctl[model]')"


def missing_model_packages() -> list[str]:
    """The packages of the ``[model]`` extra that cannot be imported here."""
    missing = []
    for name in ("numpy", "scipy.integrate", "matplotlib"):
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name.split(".")[0])
    return missing


def require_model_extra(what: str) -> str | None:
    """A one-line message naming the extra when it is missing, else ``None``."""
    missing = missing_model_packages()
    if not missing:
        return None
    return f"{what} needs {' and '.join(missing)}: {MODEL_EXTRA_HINT}"
