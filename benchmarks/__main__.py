"""Run every benchmark in turn (``make bench``)."""

from benchmarks import supervisor_restart

supervisor_restart.main([])
