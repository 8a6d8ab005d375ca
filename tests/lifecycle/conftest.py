from __future__ import annotations

from typing import Any

import pytest

from lifecycle.services import stages_seed


@pytest.fixture(autouse=True)
def stages(db: Any) -> None:
    """The default stages (the data migration seeds them; a transactional test before us may have flushed them)."""
    stages_seed()
