"""The progress bar lives in the package (``pyfwd._progress``), shared with
``pyfwd.tune`` and training; re-exported here for the bench."""
from .._progress import Progress

__all__ = ["Progress"]
