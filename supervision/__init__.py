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
