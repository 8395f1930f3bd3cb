"""Shared fixtures and settings for the whole test suite (kept small on purpose).

- Hypothesis runs without deadlines (two cores are shared by many jobs, so timings are noise),
  prints the reproduction blob of a failing example and keeps no example database in the tree.
- ``cfg_tiny`` / ``cfg_narrow``: the two test presets (non-trivial packing, ragged sizes).
"""

from __future__ import annotations

import pytest
from hypothesis import settings
from spikeloom.proto.config import CoreConfig, preset

settings.register_profile("spikeloom", deadline=None, print_blob=True, database=None)
settings.load_profile("spikeloom")


@pytest.fixture
def cfg_tiny() -> CoreConfig:
    return preset("tiny")


@pytest.fixture
def cfg_narrow() -> CoreConfig:
    return preset("narrow")
