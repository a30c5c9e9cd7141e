"""Loaded at start-up by every process of a chaos test's deployment (PYTHONPATH points here).

With NEWSFLOW_CHAOS_POISON set, a page carrying the chaos marker kills the process cleaning it
with SIGKILL: what a parser crashing in native code, or the kernel's OOM killer, does. This is
the outermost seam of the clean stage (the extractor library); everything else is the real
code. The marker must equal tests.integration.chaos.site.POISON_MARKER (a test checks it).
"""

import os

POISON_MARKER = "<!-- chaos: this page kills the process that cleans it -->"

if os.environ.get("NEWSFLOW_CHAOS_POISON"):
    import signal

    import workers.stages.clean

    # The clean step imports clean_page from this module when it runs: patch it here.
    _clean_page = workers.stages.clean.clean_page

    def _clean_page_or_die(document, url=None):  # type: ignore[no-untyped-def]
        if POISON_MARKER in document:
            os.kill(os.getpid(), signal.SIGKILL)
        return _clean_page(document, url)

    workers.stages.clean.clean_page = _clean_page_or_die

# With NEWSFLOW_CHAOS_BROKEN_WORKER set, a worker fails while starting up, the way kombu fails
# when it closes a channel to a Redis that is restarting: an "Unrecoverable error" to Celery.
if os.environ.get("NEWSFLOW_CHAOS_BROKEN_WORKER"):
    from celery import bootsteps

    from workers.app import app

    class _Breaks(bootsteps.StartStopStep):  # type: ignore[misc]
        def start(self, worker):  # type: ignore[no-untyped-def]
            raise AttributeError("'NoneType' object has no attribute 'hostname'")

    app.steps["worker"].add(_Breaks)
