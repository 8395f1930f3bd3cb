"""Shared fixtures and settings for the whole test suite (kept small on purpose).

- Hypothesis runs without deadlines (two cores are shared by many jobs, so timings are noise),
  prints the reproduction blob of a failing example and keeps no example database in the tree.
- ``cfg_tiny`` / ``cfg_narrow``: the two test presets (non-trivial packing, ragged sizes).
- ``--seed N`` / ``--seeds K``: the first seed and the number of seeds of the randomized RTL and
  cocotb runs (the same as the environment variables ``SPIKELOOM_SEED`` / ``SPIKELOOM_SEEDS``,
  which the options set, so subprocesses such as the cocotb simulators see them too).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings
from spikeloom.proto.config import CoreConfig, preset

settings.register_profile("spikeloom", deadline=None, print_blob=True, database=None)
settings.load_profile("spikeloom")


def pytest_addoption(parser):
    parser.addoption("--seed", type=int, default=None,
                     help="first seed of the randomized RTL/cocotb runs (SPIKELOOM_SEED)")
    parser.addoption("--seeds", type=int, default=None,
                     help="number of seeds of the randomized runs (SPIKELOOM_SEEDS)")


def pytest_configure(config):
    for option, var, least in (("--seed", "SPIKELOOM_SEED", 0),
                               ("--seeds", "SPIKELOOM_SEEDS", 1)):
        value = config.getoption(option)
        if value is not None:
            if value < least:
                raise pytest.UsageError(f"{option} must be at least {least}, not {value}")
            os.environ[var] = str(value)


@pytest.fixture
def cfg_tiny() -> CoreConfig:
    return preset("tiny")


@pytest.fixture
def cfg_narrow() -> CoreConfig:
    return preset("narrow")
