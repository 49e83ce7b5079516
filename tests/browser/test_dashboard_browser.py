"""The dashboard in a real browser: headless Chromium (Selenium) against `driftloop serve`.

The server is a real uvicorn process on 127.0.0.1 over a trained state in which
`driftloop detect` wrote three drift reports and simulated traffic left labelled rows. The
test reads the browser's console log, checks the chart holds exactly the logged windows,
waits for the page to refresh itself, opens a drifted window's Evidently report by clicking
its bar, and saves screenshots under the test's tmp folder. Skipped, with the reason,
where Chromium or chromedriver cannot be found.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..support.metrics import metric
from ..support.processes import run_cli
from ..support.state import TrainedState, auth, serve_env

pytest.importorskip("selenium", reason="selenium is not installed (it is a dev dependency)")

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--window-size=1400,2300")  # fmt: skip
WRITTEN = "driftloop_inference_log_rows_written_total"


def find_chromium() -> tuple[str, str] | None:
    """(browser, chromedriver) from $CHROME_BIN / $CHROMEDRIVER or the PATH, or None.
    GitHub's runners name their driver's folder in $CHROMEWEBDRIVER."""
    browser = os.environ.get("CHROME_BIN") or next(
        (p for name in BROWSERS if (p := shutil.which(name))), None)  # fmt: skip
    runner = os.environ.get("CHROMEWEBDRIVER")
    driver = (os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
              or (shutil.which("chromedriver", path=runner) if runner else None))  # fmt: skip
    return (browser, driver) if browser and driver else None


FOUND = find_chromium()
if FOUND is None:
    pytest.skip(
        "headless Chromium not found: need one of "
        f"{', '.join(BROWSERS)} and chromedriver on the PATH (or $CHROME_BIN and "
        "$CHROMEDRIVER); on Debian: apt-get install -y chromium chromium-driver",
        allow_module_level=True,
    )
pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture()
def reports(fresh_state: TrainedState, tmp_path: Path) -> list[dict[str, Any]]:
    """Three `driftloop detect` runs: the test split as is, then shifted twice (summaries)."""
    frame = fresh_state.split("test")
    summaries = []
    for i, factor in enumerate((1.0, 1.5, 1.8)):
        current = tmp_path / f"current-{i}.parquet"
        frame.assign(monthly_charges=frame["monthly_charges"] * factor).to_parquet(current)
        out = tmp_path / f"summary-{i}.json"
        result = run_cli(["detect", "--current-data-path", str(current), "--output", str(out)],
                         fresh_state.env())  # fmt: skip
        assert result.returncode in (0, 3), result.stdout + result.stderr
        summaries.append(json.loads(out.read_text()))
    return summaries


@pytest.fixture()
def server(fresh_state: TrainedState, reports: list[dict[str, Any]], server_factory: Any) -> str:
    """`python -m driftloop serve` on a free port, started once the reports are written
    (no in-server monitor: the windows are the reports')."""
    env = serve_env(fresh_state, reload_interval_s=0, monitor_every_rows=0,
                    log_flush_interval_s=0.2)  # fmt: skip
    base = server_factory(env).base_url
    if httpx.get(base + "/dashboard/static/dashboard.css").status_code == 404:
        pytest.fail("`driftloop serve` has no /dashboard: add "
                    "app.include_router(dashboard.router) to create_app")  # fmt: skip
    return base


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium with a new empty profile, console messages recorded."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert FOUND is not None
    binary, driver_path = FOUND
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (*CHROME_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver: Any) -> list[dict[str, Any]]:
    """Console messages at level SEVERE since the last call (errors, CSP violations, 404s)."""
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def send_labelled_traffic(base: str, n: int) -> None:
    """Simulated requests with their true labels, then wait until the log reached the store."""
    r = httpx.post(base + "/simulate-drift", json={"drift_type": "none", "n": n, "seed": 1},
                   headers=auth(), timeout=120)  # fmt: skip
    assert r.status_code == 200, r.text
    deadline = time.time() + 60
    while metric(httpx.get(base + "/metrics").text, WRITTEN) < n:
        assert time.time() < deadline, "the prediction log did not reach the store"
        time.sleep(0.2)


def test_dashboard_in_headless_chromium(reports, server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    ids = [s["report_id"] for s in reports]
    drifted = [s["report_id"] for s in reports if s["decision"]["window_drifted"]]
    assert drifted and len(drifted) < 3  # the unshifted window is not drifted
    send_labelled_traffic(server, 400)

    browser.get(server + "/dashboard?refresh=0")
    chart = WebDriverWait(browser, 60).until(lambda d: d.find_element(By.ID, "drift-chart"))
    assert console_errors(browser) == []
    browser.save_screenshot(str(tmp_path / "dashboard.png"))

    bars = chart.find_elements(By.CSS_SELECTOR, ".window")
    assert [b.get_attribute("data-report-id") for b in bars] == ids
    links = chart.find_elements(By.CSS_SELECTOR, "a.window.drifted")
    assert [a.get_attribute("data-report-id") for a in links] == drifted
    assert chart.find_elements(By.CSS_SELECTOR, "line.threshold")
    assert "serving v1" in browser.find_element(By.ID, "serving-pill").text
    assert browser.find_elements(By.CSS_SELECTOR, "#quality-chart .quality-point")
    traffic = browser.find_element(By.ID, "traffic").text
    assert "/simulate-drift" in traffic and "Predicted classes" in traffic

    # The page refreshes itself in place (its script swaps in a newer rendering).
    browser.get(server + "/dashboard?refresh=1")
    first = browser.find_element(By.ID, "content").get_attribute("data-generated-at")
    WebDriverWait(browser, 60).until(lambda d: d.find_element(By.ID, "content").get_attribute(
        "data-generated-at") != first)  # fmt: skip
    assert "updated" in browser.find_element(By.ID, "refresh-status").text
    assert console_errors(browser) == []

    # A drifted window's bar opens its Evidently report.
    browser.get(server + "/dashboard?refresh=0")
    target = drifted[-1]
    bar = browser.find_element(
        By.CSS_SELECTOR, f'#drift-chart a.window.drifted[data-report-id="{target}"] rect.bar'
    )
    bar.click()
    WebDriverWait(browser, 120).until(lambda d: d.current_url.endswith(f"/reports/{target}"))
    WebDriverWait(browser, 120).until(lambda d: "monthly_charges" in d.page_source)
    browser.save_screenshot(str(tmp_path / "report.png"))
