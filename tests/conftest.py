"""Project-wide pytest setup: the hypothesis profiles.

``ci`` (the default) keeps every property test to a bounded number of examples
with no per-example deadline (2-core CI machines vary too much for one), and is
derandomized so that a CI run is reproducible (the ``long`` profile searches
with fresh random seeds);
``HYPOTHESIS_PROFILE=long`` runs many more examples for a search on demand.
See docs/testing.md.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "long",
    max_examples=5000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev", max_examples=10, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
