"""The web page in Debian's headless Chromium, driven by Selenium, against `feedwatch run` replaying a real video."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.bench.common import free_port, wait_port
from tests.agents.api.test_http_api import _remember
from tests.helpers import PERSON_CLIP, run_cli, scaled

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
    ),
]


@pytest.fixture
def served(tmp_path: Path, media: Path) -> Iterator[str]:
    memory = tmp_path / "memory"
    # Remember the clip first (replayed fast, as recorded footage), so the page has history to show.
    asyncio.run(_remember(tmp_path))
    port = free_port()
    config = tmp_path / "feedwatch.yaml"
    config.write_text(
        f"""
cameras:
  - id: lobby
    url: {PERSON_CLIP}
    realtime: true
    loop: true
queries:
  - id: a-person
    text: a person
scorer:
  backend: activity
memory:
  path: {memory}
http:
  port: {port}
"""
    )
    log = (tmp_path / "run.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "agents.cli", "run", "-c", str(config)], stdout=log, stderr=log)
    try:
        wait_port(port, timeout_s=scaled(60))
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=scaled(30))
        log.close()


def _wait(what: str, check: Callable[[], Any], timeout: float = 40.0) -> Any:
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as ChromeService

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1100"):
        options.add_argument(arg)
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium fetch a browser or driver
    return webdriver.Chrome(service=ChromeService(str(CHROMEDRIVER)), options=options)


def test_page_shows_cameras_live_alerts_search_and_ask(served: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    driver = _browser()
    try:
        driver.get(served)
        assert driver.title == "feedwatch"
        # A camera tile, live, with its newest frame loaded.
        tiles = _wait("the camera tile", lambda: driver.find_elements(By.CSS_SELECTOR, '.camera[data-camera="lobby"]'))
        tile = tiles[0]
        _wait("the live status", lambda: tile.find_element(By.CSS_SELECTOR, ".status").text.lower() == "live")
        image = tile.find_element(By.TAG_NAME, "img")
        _wait("the camera frame", lambda: driver.execute_script("return arguments[0].naturalWidth", image) > 0)
        # Remembered alerts load with the page; a new one appears live, pushed by the event stream.
        _wait("the alert history", lambda: driver.find_elements(By.CSS_SELECTOR, "#alerts .alert"))
        before = {e.get_attribute("data-alert-id") for e in driver.find_elements(By.CSS_SELECTOR, "#alerts .alert")}
        _wait("the event stream", lambda: driver.find_element(By.ID, "live").text == "live")

        def fresh() -> list[Any]:
            alerts = driver.find_elements(By.CSS_SELECTOR, "#alerts .alert")
            return [e for e in alerts if e.get_attribute("data-alert-id") not in before]

        live = _wait("a live alert", fresh, timeout=60)[0]
        assert "a person" in live.text and "lobby" in live.text
        # The timeline has a track for the camera with remembered moments on it.
        timeline = driver.find_element(By.ID, "timeline")
        assert driver.find_elements(By.CSS_SELECTOR, '.track[data-camera="lobby"] .mark'), timeline.get_attribute(
            "innerHTML"
        )
        # A remembered alert's detail view plays its clip (cut from the replayed file), the snapshot as poster.
        clipped = next(e for e in driver.find_elements(By.CSS_SELECTOR, "#alerts .alert")
                       if e.get_attribute("data-alert-id") in before)  # fmt: skip
        clipped.click()
        video = _wait("the clip player", lambda: driver.find_elements(By.CSS_SELECTOR, "#detail.on video#clip"))[0]
        assert video.get_attribute("src").endswith(f"/api/alerts/{clipped.get_attribute('data-alert-id')}/clip.mp4")
        assert video.get_attribute("poster")
        _wait("the clip to load", lambda: driver.execute_script("return arguments[0].readyState", video) >= 2)
        driver.execute_script("arguments[0].play()", video)
        _wait("the clip to play", lambda: driver.execute_script("return arguments[0].currentTime", video) > 0.5)
        assert driver.execute_script("return arguments[0].videoWidth", video) == 768
        assert "clip" in driver.find_element(By.ID, "detail-info").text
        # Search.
        driver.find_element(By.ID, "search-q").send_keys("person")
        driver.find_element(By.CSS_SELECTOR, "#search-form button").click()
        results = _wait("search results", lambda: driver.find_elements(By.CSS_SELECTOR, "#search-results .moment"))
        assert "search by words" in driver.find_element(By.ID, "search-info").text
        assert "lobby" in results[0].text
        # Ask: an answer and the frames it cites.
        driver.find_element(By.ID, "ask-q").send_keys("when was a person on the lobby camera?")
        driver.find_element(By.ID, "ask-go").click()
        cited = _wait("cited frames", lambda: driver.find_elements(By.CSS_SELECTOR, "#answer-frames .cited img"))
        _wait("a cited frame to load", lambda: driver.execute_script("return arguments[0].naturalWidth", cited[0]) > 0)
        answer = driver.find_element(By.ID, "answer").text
        assert "extractive" in answer and "lobby" in answer
        shot = tmp_path / "feedwatch-page.png"
        assert driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 20_000
        keep = os.environ.get("FEEDWATCH_SCREENSHOTS")
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, keep)
        console: list[dict[str, Any]] = driver.get_log("browser")
        errors = [e for e in console if e.get("level") == "SEVERE"]
        assert not errors, errors
    finally:
        driver.quit()
    # `feedwatch ask` with the same config asks the running service, which also answers from its buffers.
    asked = run_cli("ask", "what happened on the lobby camera in the last minute?", "--config",
                    str(tmp_path / "feedwatch.yaml"), "--json")  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert "running service" in asked.stderr
    assert answer["candidates"]["buffer"] > 0 and answer["filters"]["camera"] == "lobby"
    assert answer["citations"] and all(c["thumbnail_url"] for c in answer["citations"])


def test_page_adds_a_query_sees_it_alert_disarms_and_deletes_it(served: str) -> None:
    from selenium.webdriver.common.by import By

    driver = _browser()
    try:
        driver.get(served)
        _wait("the configured query", lambda: driver.find_elements(By.CSS_SELECTOR, '.query[data-query-id="a-person"]'))
        # A bad query is refused where it was typed, and nothing is added.
        driver.find_element(By.ID, "query-id").send_keys("bad id!")
        driver.find_element(By.ID, "query-text").send_keys("anything")
        driver.find_element(By.ID, "query-save").click()
        _wait("the refusal", lambda: "422" in driver.find_element(By.ID, "query-error").text)
        driver.find_element(By.ID, "query-id").clear()
        driver.find_element(By.ID, "query-id").send_keys("someone")
        driver.find_element(By.ID, "query-text").clear()
        driver.find_element(By.ID, "query-text").send_keys("someone walks in")
        driver.find_element(By.ID, "query-cameras").send_keys("lobby")
        driver.find_element(By.ID, "query-save").click()
        row = _wait("the new query", lambda: driver.find_elements(By.CSS_SELECTOR, '.query[data-query-id="someone"]'))[
            0
        ]
        assert "someone walks in" in row.text and driver.find_element(By.ID, "query-error").text == ""

        alerted = (
            "return [...document.querySelectorAll('#alerts .alert')]"
            ".filter(e => e.textContent.includes('someone walks in')).length"
        )
        _wait("an alert of the new query", lambda: driver.execute_script(alerted) > 0, timeout=90)

        def row_of() -> Any:
            found = driver.find_elements(By.CSS_SELECTOR, '.query[data-query-id="someone"]')
            return found[0] if found else None

        driver.find_element(By.CSS_SELECTOR, '.query[data-query-id="someone"] input.arm').click()
        # The lists re-render as events arrive: read them in the page, in one go, rather than hold stale elements.
        disarmed = "return document.querySelector('.query[data-query-id=\"someone\"]')?.classList.contains('disarmed')"
        _wait("the query disarmed", lambda: driver.execute_script(disarmed))
        scored = driver.execute_script(
            "return fetch('/api/queries').then(r => r.json()).then(qs => qs.find(q => q.id === 'someone'))"
        )
        assert scored["armed"] is False
        # Disarmed: its open alert ended (none of its alerts is still open).
        still_open = (
            "return [...document.querySelectorAll('#alerts .alert.open')]"
            ".filter(e => e.textContent.includes('someone walks in')).length"
        )
        _wait("its alert to end", lambda: driver.execute_script(still_open) == 0)

        driver.find_element(By.CSS_SELECTOR, '.query[data-query-id="someone"] button.delete').click()
        _wait("the query gone", lambda: row_of() is None)
        ids = driver.execute_script("return fetch('/api/queries').then(r => r.json()).then(qs => qs.map(q => q.id))")
        assert ids == ["a-person"]
        console: list[dict[str, Any]] = driver.get_log("browser")
        assert not [e for e in console if e.get("level") == "SEVERE" and "422" not in e.get("message", "")]
    finally:
        driver.quit()


def test_page_says_when_the_model_is_away_and_when_it_is_back(tmp_path: Path, media: Path) -> None:
    """The scorer's server is down: a banner at the top of the page names it; it comes back: the banner goes."""
    from selenium.webdriver.common.by import By

    from agents.bench.vlm_server import StandInVLMServer

    vlm = StandInVLMServer(answer="{}").start()
    vlm.stop()  # down from the start; its port stays known
    port = free_port()
    config = tmp_path / "feedwatch.yaml"
    camera = {"id": "lobby", "url": str(PERSON_CLIP), "realtime": True, "loop": True, "fps": 2.0}
    scorer = {"backend": "openai", "window": 4, "stride": 2, "openai": {"base_url": vlm.base_url, "timeout_s": 1.0}}
    config.write_text(json.dumps({"cameras": [camera], "queries": [{"id": "p", "text": "a person"}], "scorer": scorer,
                                  "memory": {"path": str(tmp_path / "memory")}, "http": {"port": port}}))  # fmt: skip
    log = (tmp_path / "run.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "agents.cli", "run", "-c", str(config)], stdout=log, stderr=log)
    driver = _browser()
    try:
        wait_port(port, timeout_s=scaled(60))
        driver.get(f"http://127.0.0.1:{port}/")
        banner = driver.find_element(By.ID, "banner")
        _wait("the banner", lambda: "scorer openai is unavailable since" in banner.text)
        assert banner.is_displayed() and "unavailable" in banner.text
        vlm.start()
        _wait("the banner to go", lambda: not banner.is_displayed(), timeout=60)
    finally:
        driver.quit()
        vlm.stop()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=scaled(30))
        log.close()
