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
``LifecycleOwner`` protocol), ``_foreign`` (refs it does not own: the ``ForeignRef`` protocol
and the lifecycle that stands for such a ref), ``_actor`` (``SupervisedActor``), ``_links``
(links and monitors), ``_messages`` (what a supervisor receives and its operations wait for),
``_operations`` (starting and stopping children), ``_supervisor`` (the supervisor actor),
``_handle`` (the thread-safe handles and start functions), this package, and ``testing`` (the
testing kit).

Refs it does not own. Links, monitors and supervisors also take actor references that this
package does not own, such as another node's actors (``genrpc_actors.RemoteActorRef``): any
object with the methods of :class:`ForeignRef` (``sv_watch``/``sv_unwatch``: be told once of
the actor's death and its reason, or that it can no longer be reached; ``sv_exit``: stop it;
``sv_signal``: deliver a linked actor's exit signal to it; ``sv_link``/``sv_unlink``: link it
where it lives). Where the actor lives, its carrier does what ``exit``, ``exit_signal``,
``link`` and ``monitor`` do. A supervisor's child on another node is a ``ChildSpec`` whose
``start`` factory returns such a ref:

    sv.ChildSpec("worker", start=lambda: gen_rpc.spawn(node, "pkg.mod:Worker"))
"""

from supervision._actor import SupervisedActor
from supervision._errors import StartError, SupervisionError
from supervision._foreign import ForeignRef
from supervision._handle import (
    DynamicSupervisor,
    Supervisor,
    handle,
    start_dynamic_supervisor,
    start_supervisor,
)
from supervision._links import demonitor, exit, exit_signal, link, monitor, unlink
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
    "ForeignRef",
    "MonitorRef",
    "StartError",
    "SupervisedActor",
    "SupervisionError",
    "Supervisor",
    "SupervisorStatistics",
    "demonitor",
    "exit",
    "exit_signal",
    "handle",
    "link",
    "monitor",
    "start_dynamic_supervisor",
    "start_supervisor",
    "unlink",
]
