"""Shared fixtures: every test ends with no supervised actor and no actor thread left running."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import pytest

from supervision._lifecycle import live_lifecycles
from supervision.testing import stop_actors, supervision_trees  # noqa: F401

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(autouse=True)
def _no_actor_left_behind() -> Iterator[None]:
    """Tear every tree down after each test, then check that no actor thread survived it."""
    before = set(live_lifecycles())
    threads_before = set(threading.enumerate())
    yield
    stop_actors([lc for lc in live_lifecycles() if lc not in before])
    left = [
        t
        for t in threading.enumerate()
        if t not in threads_before and t.is_alive() and not t.daemon
    ]
    for thread in left:
        thread.join(5.0)
    still = [t.name for t in left if t.is_alive()]
    assert not still, f"threads left running: {still}"


from genrpc_actors.testing import local_node_factory  # noqa: E402, F401 - a fixture
from tests.discovery.etcd_server import etcd_url  # noqa: E402, F401 - a fixture
from tests.node_fixtures import (  # noqa: E402, F401 - fixtures
    certificates,
    driver,
    fake_port,
    inbox,
    make_node,
    master,
    master_port,
    reaching,
    recorder,
    slave,
    victim,
    watcher,
)
