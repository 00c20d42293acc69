"""Run every benchmark in turn (``make bench``)."""

from benchmarks import node_calls, supervisor_restart

supervisor_restart.main([])
node_calls.main([])
