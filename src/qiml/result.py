"""The result type returned by :func:`qiml.minimize` and ``QiML.result``.

It is SciPy's :class:`scipy.optimize.OptimizeResult` (a dict with attribute access), so code
written against SciPy's optimisers reads it unchanged. Fields:

``x`` (P,) best parameters found; ``fun`` loss at ``x``; ``nfev`` objective evaluations;
``nit`` engine iterations; ``success``; ``status`` (0 budget/target reached, 1 stopped by a
callback or on user request); ``message``; ``history`` array (n, 2) of (nfev, best loss so far)
recorded after each iteration; ``hbar`` the last hbar used; ``elapsed`` wall seconds.
"""

from __future__ import annotations

from scipy.optimize import OptimizeResult

__all__ = ["OptimizeResult"]
