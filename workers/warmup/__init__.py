"""Paying a stage's first-use costs before a worker takes its first message.

The classifier loads its model on first use and the extractor imports its lazy parts on its first
page; a worker that did this on its first article would show that article as seconds slow. Each
process warms the stages of the queues it consumes: prefork pool processes as they start, a
threads/solo worker before it starts consuming. `article.html` is a real-shaped article page
(the bundled sample site's), so the extractor's whole path runs once.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Collection
from importlib import resources

from workers.errors import SkipArticle
from workers.memory import release_free_memory

WARM_UP_PAGE = resources.files("workers.warmup").joinpath("article.html")


def warm_up(queues: Collection[str]) -> None:
    """Load what the stages of `queues` need (model, extractor) in this process."""
    if "classify" in queues:
        from workers.services import get_services

        get_services().classifiers.current()
    if "clean" in queues:
        from workers.stages.clean import clean_page
        from workers.stages.clean.trafilatura_text import load_fallback

        with contextlib.suppress(SkipArticle):
            clean_page(WARM_UP_PAGE.read_text(encoding="utf-8"), "https://ledger.example/")
        # The warm-up page is a clean article, which never reaches the trafilatura fallback.
        load_fallback()
    # Loading leaves freed memory behind (the model's float32 weights, once quantised): give it
    # back before the first task, and, in a prefork parent, before the pool forks.
    release_free_memory()
    # What the process holds now (modules, models, the extractor's tables) lives as long as it
    # does: in the collector's permanent generation, full collections stop re-scanning it (the
    # dedup worker's collections took 0.30 s over a 400-article burst without this, 0.01 s with
    # it: docs/performance.md), and a prefork child never writes to the headers of what it
    # shares with its parent, which would copy those pages into the child. The loading's own
    # cyclic garbage is collected first: frozen, it would stay for the life of the process.
    gc.collect()
    gc.freeze()
