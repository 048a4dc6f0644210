"""Suite-wide test settings."""

from __future__ import annotations

import os

from hypothesis import settings

# CI replays the same examples every run and never fails on timing alone (2 loaded cores);
# local runs keep exploring new examples, which is where new counterexamples are found.
settings.register_profile("ci", derandomize=True, database=None, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
