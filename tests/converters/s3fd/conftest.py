"""S3FD test fixtures: seeded checkpoints in build/s3fd_fixtures (generated, not committed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.reference import s3fd_session


@pytest.fixture(scope="session")
def s3fd_files() -> dict[str, Path]:
    return s3fd_session.fixture_files()


@pytest.fixture(scope="session")
def s3fd_weights() -> dict[str, np.ndarray]:
    return s3fd_session.weights()
