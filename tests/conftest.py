"""Shared test configuration: the Hypothesis settings profiles of the property-based tests.

Profiles (see tests/test_properties.py):

* ``ci`` -- used when the environment variable ``CI`` is set (to anything but ``""``, ``0``, ``false``
  or ``no``): deterministic (``derandomize=True``: the same examples on every run), few examples so
  the whole property file runs in well under a minute on two cores, no deadline (shared runners are
  slow and uneven), no example database (nothing is written) and no "explain" phase after a failure
  (it costs seconds per failure; the minimal example and its reproduce blob are still printed).
* ``dev`` -- the default elsewhere: random examples, failures remembered in an example database
  under ``.pytest_cache/`` (already ignored by git) and replayed first on the next run.
* ``thorough`` -- ``HYPOTHESIS_PROFILE=thorough``: 1000 examples per property for long runs
  (minutes; run it with ``nice``).

``HYPOTHESIS_PROFILE`` (or pytest's ``--hypothesis-profile``) picks a profile explicitly.
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings
from hypothesis.database import DirectoryBasedExampleDatabase

# Properties use pytest's tmp_path for checkpoint files; every example overwrites its own file, so
# sharing the function-scoped directory between examples is safe.
_SUPPRESS = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
_DB = DirectoryBasedExampleDatabase(str(Path(__file__).resolve().parent.parent / ".pytest_cache" / "hypothesis"))

settings.register_profile("ci", max_examples=50, derandomize=True, deadline=None, database=None,
                          print_blob=True, suppress_health_check=_SUPPRESS,
                          phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink])
settings.register_profile("dev", max_examples=50, deadline=None, database=_DB, suppress_health_check=_SUPPRESS)
settings.register_profile("thorough", max_examples=1000, deadline=None, database=_DB,
                          suppress_health_check=_SUPPRESS)


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if _on_ci() else "dev"))
