"""A worker pays its stages' first-use costs before it takes its first message."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run_fresh(code: str) -> str:
    """Run `code` in a new interpreter (this test process may have imported anything already)."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.strip()


def test_warming_the_clean_stage_loads_the_trafilatura_fallback_and_its_stoplist() -> None:
    # The warm-up page never falls back to trafilatura, so without this the first fallback
    # page of every pool process would pay ~1.5 s of imports and stoplist building mid-run.
    out = _run_fresh(
        """
        import sys
        from workers.warmup import warm_up
        from workers.stages.clean.trafilatura_text import _HashOnceTuple
        warm_up({"clean"})
        import trafilatura.external as external
        print("trafilatura" in sys.modules, isinstance(external.JT_STOPLIST, _HashOnceTuple))
        """
    )
    assert out == "True True"


def test_a_worker_without_the_clean_queue_does_not_load_the_extractor() -> None:
    out = _run_fresh(
        """
        import sys
        from workers.warmup import warm_up
        warm_up({"fetch", "crawl"})
        print("trafilatura" in sys.modules, "workers.stages.clean" in sys.modules)
        """
    )
    assert out == "False False"


def test_what_a_warmed_process_holds_moves_to_the_collectors_permanent_generation() -> None:
    # Full collections then stop re-scanning modules and tables that live as long as the process
    # (and prefork children stop copying the pages they share with their parent).
    out = _run_fresh(
        """
        import gc
        from workers.warmup import warm_up
        before = gc.get_freeze_count()
        warm_up({"dedup"})
        print(before == 0, gc.get_freeze_count() > 10_000)
        """
    )
    assert out == "True True"


def test_garbage_left_before_the_warm_up_is_collected_not_frozen() -> None:
    # Frozen objects are never collected: an unreachable cycle frozen at start-up would stay for
    # the life of the process. (Automatic collection is off so that only warm_up can free it.)
    out = _run_fresh(
        """
        import gc, weakref
        gc.disable()

        class Node:
            pass

        node = Node()
        node.myself = node
        alive = weakref.ref(node)
        del node
        from workers.warmup import warm_up
        warm_up({"dedup"})
        print(alive() is None)
        """
    )
    assert out == "True"
