"""The fuzz budget (issue 10 item 8): hypothesis profiles "ci" (the default: fixed example counts,
derandomized, so a CI run tries the same cases every time) and "long" (`make fuzz`: many more, random),
chosen by FUZZ_PROFILE. FUZZ_EXAMPLES overrides the per-property count of the parsers' properties (the
forms get a tenth of it).

Every example has a deadline: a parser that takes seconds on one input is a failure, not a slow test.
"""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, settings

PROFILE = os.environ.get("FUZZ_PROFILE", "ci")
if PROFILE not in ("ci", "long"):
    raise ValueError(f"FUZZ_PROFILE must be 'ci' or 'long', not {PROFILE!r}")

# examples per property: (parsers: CSR and OCSP, portal forms)
EXAMPLES = {"ci": (200, 30), "long": (5000, 300)}
_override = os.environ.get("FUZZ_EXAMPLES")
PARSER_EXAMPLES, FORM_EXAMPLES = ((int(_override), max(10, int(_override) // 10)) if _override
                                  else EXAMPLES[PROFILE])

# The fixtures a property uses (a ledger, an app) are built once per test and shared by its examples on
# purpose; the inputs are large on purpose.
_SUPPRESSED = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large,
               HealthCheck.large_base_example, HealthCheck.filter_too_much]

settings.register_profile("ci", max_examples=PARSER_EXAMPLES, derandomize=True, database=None, print_blob=True,
                          deadline=timedelta(seconds=2), suppress_health_check=_SUPPRESSED)
settings.register_profile("long", max_examples=PARSER_EXAMPLES, derandomize=False, database=None, print_blob=True,
                          deadline=timedelta(seconds=2), suppress_health_check=_SUPPRESSED)


def parser_settings(**overrides: object) -> settings:
    """For the CSR and OCSP properties: the profile's budget."""
    return settings(settings.get_profile(PROFILE), max_examples=PARSER_EXAMPLES, **overrides)


def form_settings(**overrides: object) -> settings:
    """For the portal forms: a request costs milliseconds (argon2 for the password forms), so fewer."""
    return settings(settings.get_profile(PROFILE), max_examples=FORM_EXAMPLES,
                    deadline=timedelta(seconds=5), **overrides)
