"""Shared test set-up: each area keeps its fixtures in a module of its own, registered here."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = [
    "tests.fixtures_db",
    "tests.fixtures_fakes",
    "tests.fixtures_estate",
]

#: ../shared beside the checkout (CI has it; a user's fresh clone may not).
SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only ../shared folder, or skip with a clear message where it is absent."""
    if not SHARED.is_dir():
        pytest.skip(
            f"../shared is not beside this checkout ({SHARED}); these tests read its scenarios and data"
        )
    return SHARED
