"""Shared by the plugin tests: one harness (the plugin library driven without TensorRT)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def harness():
    from trtops.testing.harness import PluginHarness

    return PluginHarness()
