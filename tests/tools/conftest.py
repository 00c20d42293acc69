"""The fixtures of the CLI's tests (in ``tests.tools.cli``)."""

from __future__ import annotations

from tests.tools.cli import cli_node, processes  # noqa: F401 - fixtures
