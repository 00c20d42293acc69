"""Fixtures the supervision tests share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pykka
import pytest

from tests.waiting import WAIT


@pytest.fixture
def plain_actors() -> Iterator[list[pykka.ActorRef[Any]]]:
    """Plain Pykka actors the test starts; stopped afterwards (the tree fixture does not know
    them)."""
    refs: list[pykka.ActorRef[Any]] = []
    yield refs
    for ref in refs:
        ref.stop(timeout=WAIT)
