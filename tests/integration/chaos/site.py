"""A news site of generated articles for the chaos tests: real-shaped pages, each story its own.

Pages carry what real article pages do (title, byline, date, a few paragraphs, navigation and a
footer to strip), with text drawn from a seeded generator so no two stories are near-duplicates
and a run is repeatable. Served by the fetch tests' real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import random
from http.server import BaseHTTPRequestHandler

from tests.test_fetch_support import LocalServer, send

SUBJECTS = (
    "The city council", "A regional hospital", "The transport authority", "Local farmers",
    "A coalition of parents", "The harbour board", "University researchers", "The state auditor",
    "A small software firm", "Residents of the old quarter", "The football club", "Fishermen",
    "The national weather service", "A teachers' union", "The water utility", "Firefighters",
)  # fmt: skip
VERBS = (
    "approved", "rejected", "postponed", "announced", "criticised", "defended", "questioned",
    "published", "expanded", "suspended", "reviewed", "funded", "opposed", "welcomed",
)  # fmt: skip
OBJECTS = (
    "a plan to rebuild the northern bridge", "new rules for night buses",
    "a study of river pollution", "the budget for school repairs", "a pilot for free clinics",
    "the sale of the old shipyard", "a curfew on delivery drones", "plans for a solar farm",
    "a review of flood defences", "the closure of two branch libraries",
    "a trial of shorter working weeks", "changes to parking fees", "a new cycling corridor",
)  # fmt: skip
DETAILS = (
    "according to documents seen by reporters", "after a heated public meeting",
    "despite warnings from engineers", "following months of delays", "to the surprise of many",
    "in a vote that split the chamber", "after an independent inquiry", "amid rising costs",
)  # fmt: skip
QUOTES = (
    "We owe people a straight answer", "Nobody asked the neighbourhood", "The numbers add up",
    "This has been a long time coming", "We will keep a close eye on it", "It is a fair deal",
)  # fmt: skip


def story(n: int) -> tuple[str, list[str]]:
    """Article `n`'s title and paragraphs: the same for the same `n`, different across `n`."""
    rng = random.Random(n)
    subject, verb, obj = rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS)
    title = f"{subject} {verb} {obj} (report {n})"
    paragraphs = []
    for p in range(5):
        sentences = []
        for _ in range(4):
            figure = rng.randint(2, 9_000)
            sentences.append(
                f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} "
                f"{rng.choice(DETAILS)}, with {figure} people affected in district "
                f"{rng.randint(1, 40)}."
            )
        if p == 2:
            sentences.append(f'"{rng.choice(QUOTES)}," a spokesperson said on day {n}.')
        paragraphs.append(" ".join(sentences))
    return title, paragraphs


def article_page(n: int, marker: str = "") -> str:
    title, paragraphs = story(n)
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} | The Chaos Courier</title>
<meta property="og:title" content="{title}">
<meta name="author" content="Reporter {n % 17}">
<meta property="article:published_time" content="2026-11-{1 + n % 28:02d}T09:00:00Z">
</head><body>
<header><nav><a href="/">Home</a> <a href="/world">World</a> <a href="/city">City</a></nav></header>
<main><article><h1>{title}</h1><p class="byline">By Reporter {n % 17}</p>
{body}
{marker}
</article></main>
<footer><p>Copyright The Chaos Courier. All rights reserved.</p></footer>
</body></html>"""


def serve_articles(
    server: LocalServer, count: int, poison: frozenset[int] = frozenset()
) -> list[str]:
    """Route `count` article pages (and an empty robots.txt) on `server`; returns their URLs.
    Articles in `poison` carry the marker the chaos tests' worker plugin crashes on."""
    pages = {
        f"/news/{n}.html": article_page(n, POISON_MARKER if n in poison else "").encode()
        for n in range(count)
    }

    def route(handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        if path == "/robots.txt":
            send(handler, 200, b"User-agent: *\n", {"Content-Type": "text/plain"})
        elif path in pages:
            send(handler, 200, pages[path], {"Content-Type": "text/html; charset=utf-8"})
        else:
            send(handler, 404, b"not found", {"Content-Type": "text/plain"})

    server.routes["/robots.txt"] = route
    for path in pages:
        server.routes[path] = route
    return [server.url(path) for path in pages]


# A page containing this makes the chaos tests' worker plugin (plugin/sitecustomize.py) kill
# the process cleaning it: a parser crashing natively, as far as newsflow can tell.
POISON_MARKER = "<!-- chaos: this page kills the process that cleans it -->"
