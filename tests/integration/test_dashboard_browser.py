"""The dashboard in a real browser (headless Chromium) while a real ingest runs.

`newsflow serve` runs as a process; the bundled demo sites are ingested by real workers (as in
test_pipeline_e2e.py); the page, polling the server, must show the numbers move, its search
box must open an article's trace, and its replay button must send a quarantined article back
(with the token, not without). A full-page screenshot is saved under the test's tmp dir.
Skips where Chromium or its driver is not installed, except where NEWSFLOW_REQUIRE_BROWSER=1
says it must be there (.ci/run installs both and sets it).
"""

from __future__ import annotations

import base64
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import e2e_settings, register_demo_feeds
from tests.integration.serving import served
from workers.app import create_app
from workers.demo.server import DemoSites, serve_demo_sites
from workers.demo.session import start_workers, stop_processes
from workers.queueing import enqueue_crawl
from workers.scheduler import scheduler_tick
from workers.services import Services
from workers.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser() -> Iterator[Any]:
    if not (CHROMIUM and CHROMEDRIVER):
        missing = "no chromium/chromedriver here (apt-get install -y chromium chromium-driver)"
        if os.environ.get("NEWSFLOW_REQUIRE_BROWSER"):
            pytest.fail(f"a browser is required: {missing}")
        pytest.skip(missing)
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    for arg in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1900",
    ):
        options.add_argument(arg)
    # The machine's own driver, named: Selenium Manager never looks for (or downloads) one.
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture
def sites() -> Iterator[DemoSites]:
    running = serve_demo_sites()
    yield running
    running.stop()


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except StaleElementReferenceException:
            value = None  # the page redrew the element between finding and reading it
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def number(driver: Any, element_id: str) -> int:
    from selenium.webdriver.common.by import By

    text = driver.find_element(By.ID, element_id).text
    return int(text.replace(",", "")) if text.strip().lstrip("-").replace(",", "").isdigit() else -1


def queue_workers(driver: Any, queue: str) -> int:
    from selenium.webdriver.common.by import By

    cells = driver.find_elements(By.CSS_SELECTOR, f"tr[data-queue='{queue}'] td")
    return int(cells[3].text) if len(cells) > 3 and cells[3].text.isdigit() else -1


def polls(driver: Any) -> int:
    return int(driver.execute_script("return Number(document.body.dataset.polls || 0)"))


def test_the_page_follows_an_ingest_and_opens_a_trace_from_the_search_box(
    browser: Any,
    sites: DemoSites,
    e2e_redis_url: str,
    sqlite_url: str,
    tmp_path: Path,
    make_services: Callable[[Settings], Services],
) -> None:
    from selenium.webdriver.common.by import By

    # A token, because replay from the page is part of what this test drives (it is off by
    # default, which test_serve.py covers).
    settings = e2e_settings(
        e2e_redis_url, sqlite_url, sites.bases.values(), serve_token="browser-token"
    )
    svc = make_services(settings)
    register_demo_feeds(svc, sites)

    with served(settings, tmp_path / "serve.log") as base:
        browser.get(base)
        wait_for(lambda: polls(browser) >= 1, 30, "the first poll")
        assert browser.find_element(By.ID, "dep-redis").text == "Redis ok"
        assert browser.find_element(By.ID, "dep-database").text == "database ok"
        assert number(browser, "articles-total") == 0
        assert number(browser, "events-hour-total") == 0
        assert number(browser, "feeds-total") == 2

        celery = create_app(settings)
        with (tmp_path / "workers.log").open("wb") as log:
            children = start_workers(settings, log)
            try:
                scheduler_tick(svc, lambda url: enqueue_crawl(celery, url), 1.0, "browser")
                # The page's numbers move as the workers get through the articles.
                wait_for(lambda: number(browser, "articles-total") > 0, 180, "articles on the page")
                first_events = wait_for(
                    lambda: max(0, number(browser, "events-hour-total")), 180, "stage events"
                )
                wait_for(
                    lambda: number(browser, "events-hour-total") > first_events,
                    180,
                    "the event count to grow",
                )
                assert browser.find_elements(By.CSS_SELECTOR, "#throughput-charts svg rect")
                # Workers show up per queue from their heartbeats (clean: a prefork pool).
                wait_for(lambda: queue_workers(browser, "clean") >= 1, 60, "clean's workers")
                assert queue_workers(browser, "fetch") >= 1
                stored = wait_for(
                    lambda: svc.store.list_articles(status="stored", limit=1), 240, "a stored one"
                )
                failed = wait_for(  # the demo site's dead link
                    lambda: svc.store.list_articles(status="failed", limit=1), 240, "a failed one"
                )
            finally:
                stop_processes(children)
                celery.close()

        # A trace opens from the search box, by URL.
        article = stored[0]
        box = browser.find_element(By.ID, "search-input")
        box.clear()
        box.send_keys(article.url)
        browser.find_element(By.ID, "search-button").click()
        trace_id = wait_for(
            lambda: browser.find_elements(By.CSS_SELECTOR, "#trace-panel .trace-id"),
            30,
            "the trace",
        )[0]
        assert trace_id.text == article.id
        events = browser.find_elements(By.CSS_SELECTOR, "#trace-panel .trace-events tbody tr")
        assert any("article_fetched" in row.text for row in events)
        assert "stored" in browser.find_element(By.CSS_SELECTOR, ".trace-article-status").text

        # Once more after the last poll, with the trace open: the picture a person would see.
        done = polls(browser)
        wait_for(lambda: polls(browser) > done, 30, "one more poll")
        assert number(browser, "articles-stored") >= 1
        screenshot = tmp_path / "dashboard.png"
        shot = browser.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
        )
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        print(f"dashboard screenshot: {screenshot}")
        # The page ran without a script error (and without a refused Content-Security-Policy).
        severe = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert severe == []

        # Replay from the page asks for the token: a wrong one is refused, the right one works.
        quarantined = failed[0]
        replay = f"#failures-table button.replay[data-id='{quarantined.id}']"
        wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, replay), 30, "its replay button")
        for token, expected in (("wrong", "refused"), ("browser-token", "replayed 1 article")):
            browser.find_element(By.CSS_SELECTOR, replay).click()
            browser.find_element(By.ID, "token-input").clear()
            browser.find_element(By.ID, "token-input").send_keys(token)
            browser.find_element(By.ID, "token-ok").click()
            wait_for(
                lambda e=expected: e in browser.find_element(By.ID, "replay-status").text,
                30,
                f"replay status {expected!r}",
            )
            if expected == "refused":
                assert svc.store.status_of(quarantined.id) == "failed"
        assert svc.store.status_of(quarantined.id) == "queued"
