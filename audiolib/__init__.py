"""audiolib: a reproducibility workbook for CNN audio classification.

The library does the work; the notebooks under ``notebooks/`` call it and ``python -m audiolib.run``
executes them with papermill into versioned run folders under ``results/``.
"""

__version__ = "0.1.0"
