"""Where requests run: run a request body and send its reply.

``_request`` carries out one request (module control, version check, the call, the outcome as a
reply body), the same for every runner; ``_thread_pool`` is the elastic pool of worker threads
with its watcher (a request that runs long hands the rest of its batch to other threads);
``_timers`` is the node's one timer thread; ``_event_loop`` is the node's event loop, where the
awaitables that functions return are awaited; the process workers (``_process_workers`` and the
``_worker_*`` modules) run the requests of ``process_modules`` in processes of their own.
"""
