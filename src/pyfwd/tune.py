"""``python -m pyfwd.tune``: the autotuner's command line (see ``pyfwd._tuning``).

``pyfwd.tune`` is the function :func:`pyfwd._tuning.tune`; this module is also
callable the same way, so ``import pyfwd.tune`` (which makes ``pyfwd.tune`` this
module) does not break ``pyfwd.tune()``.
"""
from __future__ import annotations

import sys
import types

from ._tuning import load_saved, main, reset, status, tune, tune_file

__all__ = ["tune", "reset", "tune_file", "load_saved", "status", "main"]


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return tune(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":
    raise SystemExit(main())
