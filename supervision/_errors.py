"""The exceptions of the supervision package."""

from __future__ import annotations

__all__ = ["StartError", "SupervisionError"]


class SupervisionError(Exception):
    """A supervisor refused a request; ``reason`` says why in OTP's words.

    Reasons: ``"not_found"`` (no such child), ``"running"`` (the child runs; terminate it first),
    ``"already_present"`` (a child with that id exists), ``"max_children"`` (a dynamic supervisor
    is full), ``"not_supported"`` (the request makes no sense for this kind of supervisor),
    ``"shutting_down"`` (the supervisor stopped before it could answer).
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class StartError(SupervisionError):
    """A child failed while starting (in ``__init__`` or ``on_start``).

    ``child_id`` names it; ``__cause__`` is the exception it raised (for a nested supervisor, that
    supervisor's own :class:`StartError`).
    """

    def __init__(self, child_id: str, detail: str = "") -> None:
        super().__init__("start_failed", f"child {child_id!r} {detail}".rstrip())
        self.child_id = child_id
