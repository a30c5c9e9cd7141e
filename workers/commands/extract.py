"""`newsflow extract`: run the clean stage on saved pages and print one JSON line per file.

The clean stage (lxml, trafilatura) and charset detection are imported when a page is read, not
when the command line is built, so `newsflow --help` does not pay for them.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workers.commands.progress import progress
from workers.errors import SkipArticle

if TYPE_CHECKING:
    from workers.settings import Settings

NAME = "extract"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        NAME,
        help="extract title, text and metadata from saved pages",
        description="Run the clean stage (the same clean_page the worker uses) on saved pages "
        "(.html, .html.gz, .txt) in one process and print one JSON line per file: the article's "
        "fields, or {file, skipped, detail} when the page is not an article.",
    )
    p.add_argument(
        "files", nargs="+", metavar="FILE", help="pages to extract (.html, .html.gz, .txt)"
    )
    p.add_argument(
        "--url", default=None, help="the pages' URL, used to resolve relative links and images"
    )
    p.set_defaults(func=run, plain_logs=True)


def read_document(path: Path) -> str:
    """The text of a saved page: gunzipped when .gz, decoded as UTF-8 or by detected charset."""
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        return str(best) if best is not None else data.decode("utf-8", "replace")


def extract_file(path: Path, url: str | None) -> dict[str, Any]:
    """One output record for one file (an article, a skip, or a read error)."""
    try:
        document = read_document(path)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        return {"file": str(path), "error": f"{type(exc).__name__}: {exc}"}
    from workers.stages.clean import clean_page

    try:
        article = clean_page(document, url)
    except SkipArticle as skip:
        return {"file": str(path), "skipped": skip.reason, "detail": skip.detail}
    return {
        "file": str(path),
        "title": article.title,
        "text": article.text,
        "lead": article.lead,
        "authors": list(article.authors),
        "published_at": article.published_at,
        "modified_at": article.modified_at,
        "language": article.language,
        "canonical_url": article.canonical_url,
        "site_name": article.site_name,
        "top_image": article.top_image,
        "section": article.section,
        "tags": list(article.tags),
        "word_count": article.word_count,
    }


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when every file was read (articles and skips alike), 1 when any could not be read."""
    failed = False
    with progress("extract", total=len(args.files), unit="page") as bar:
        for name in args.files:
            record = extract_file(Path(name), args.url)
            failed = failed or "error" in record
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
            bar.advance()
    sys.stdout.flush()
    return 1 if failed else 0
