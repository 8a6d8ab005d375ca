"""Fixtures for the fault drills: private servers once per package, a fresh hub (database, processes) per drill."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.faults.hub import DRILL_SETTINGS, DrillHub, drill_hub
from tests.faults.services import PrivatePostgres, PrivateRedis, private_services


@pytest.fixture(scope="package")
def private_servers() -> Iterator[tuple[PrivatePostgres, PrivateRedis]]:
    with private_services() as servers:
        yield servers


@pytest.fixture
def make_hub(
    private_servers: tuple[PrivatePostgres, PrivateRedis], tmp_path: Path, request: Any
) -> Iterator[Callable[..., DrillHub]]:
    """A hub on the private servers with a database of its own; its processes are stopped after the drill."""
    postgres, redis = private_servers
    with ExitStack() as stack:

        def make(**env: str) -> DrillHub:
            name = request.node.name.split("[")[0].removeprefix("test_")[:40]
            return stack.enter_context(
                drill_hub(postgres, redis, tmp_path / "hub", name, **{**DRILL_SETTINGS, **env})
            )

        yield make
