"""Hypothesis profiles of the property suite: a few reproducible examples in CI, many under `make fuzz`.

HYPOTHESIS_PROFILE=planforge-fuzz (what `make fuzz` sets) runs more; the default profile is planforge-ci.
PROPERTY_EXAMPLES overrides the number of manifests of either profile. PROFILE is the one chosen.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

__all__ = ["PROFILE"]

_COMMON = {"deadline": None, "suppress_health_check": list(HealthCheck), "print_blob": True}

settings.register_profile(
    "planforge-ci",
    max_examples=int(os.environ.get("PROPERTY_EXAMPLES", "4")),
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    **_COMMON,
)
settings.register_profile(
    "planforge-fuzz",
    max_examples=int(os.environ.get("PROPERTY_EXAMPLES", "60")),
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    **_COMMON,
)

PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "planforge-ci"))
