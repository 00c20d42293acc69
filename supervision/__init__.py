"""OTP-style supervision for Pykka actors: supervisors, dynamic supervisors, links and monitors.

A library of its own: it imports Pykka and nothing of ``genrpc_actors``.

>>> import supervision as sv
>>> class Cache(sv.SupervisedActor):
...     def __init__(self, size):
...         super().__init__()
...         self.size = size
>>> sup = sv.start_supervisor([sv.ChildSpec("cache", Cache, args=(100,))])
>>> sup.child("cache").proxy().size.get()
100
>>> sup.stop()

Layout, lowest first; each module imports only those before it, and nothing private crosses a
module boundary: ``_errors`` (the exceptions), ``_signals`` (exit reasons, ``Exit``, ``Down``),
``_policy`` (the restart decision, pure functions), ``_spec`` (child specs, statistics),
``_lifecycle`` (an actor's state and who hears of its death; it knows its actor through the
``LifecycleOwner`` protocol), ``_actor`` (``SupervisedActor``), ``_links`` (links and monitors),
``_messages`` (what a supervisor receives and its operations wait for), ``_operations`` (starting
and stopping children), ``_supervisor`` (the supervisor actor), ``_handle`` (the thread-safe
handles and start functions), this package, and ``testing`` (the testing kit).
"""

from supervision._actor import SupervisedActor
from supervision._errors import StartError, SupervisionError
from supervision._handle import (
    DynamicSupervisor,
    Supervisor,
    handle,
    start_dynamic_supervisor,
    start_supervisor,
)
from supervision._links import demonitor, exit, link, monitor, unlink
from supervision._signals import NORMAL, SHUTDOWN, Down, Exit, ExitReason, MonitorRef
from supervision._spec import ChildInfo, ChildSpec, SupervisorStatistics

__all__ = [
    "NORMAL",
    "SHUTDOWN",
    "ChildInfo",
    "ChildSpec",
    "Down",
    "DynamicSupervisor",
    "Exit",
    "ExitReason",
    "MonitorRef",
    "StartError",
    "SupervisedActor",
    "SupervisionError",
    "Supervisor",
    "SupervisorStatistics",
    "demonitor",
    "exit",
    "handle",
    "link",
    "monitor",
    "start_dynamic_supervisor",
    "start_supervisor",
    "unlink",
]
