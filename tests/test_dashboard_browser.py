"""The real thing: ``tinypdm dashboard`` in a subprocess, opened in Debian's headless Chromium."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import replace

import pytest

from tests.support import (
    CHROMEDRIVER,
    make_registry,
    require,
    require_tool,
    specs_for,
    tinypdm_command,
    wait_healthy,
)

pytestmark = [pytest.mark.chromium, pytest.mark.slow]


def metric_values(driver: object) -> list[str]:
    """Texts of the metric values on the page (alarm, offline, warning, ok)."""
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMetricValue"]')  # type: ignore[attr-defined]
    return [e.text.strip() for e in found]


def test_dashboard_fleet_page_renders_in_headless_chromium(tmp_path):
    require_tool("chromium", "chromium")
    require(os.access(CHROMEDRIVER, os.X_OK), f"{CHROMEDRIVER} missing (Debian chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from dashboard.sample_fleet import seed_fleet
    from vibration.telemetry.stores import open_store
    from vibration.telemetry.stores.influxd_process import free_port

    hashes = make_registry(tmp_path / "models")
    store_url = f"sqlite:///{tmp_path}/scores.db"
    store = open_store(store_url)
    seed_fleet(store, now_ns=time.time_ns(), specs=specs_for(hashes), hours=1.0, seed=1)
    store.close()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "dashboard.log").open("wb")
    proc = subprocess.Popen(
        [
            *tinypdm_command(),
            "dashboard",
            "--store",
            store_url,
            "--port",
            str(port),
            "--models",
            str(tmp_path / "models"),
            "--refresh",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    driver = None
    try:
        wait_healthy(url, proc)
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in (
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--window-size=1400,1000", f"--user-data-dir={tmp_path / 'chrome'}",
        ):  # fmt: skip
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        driver.get(url)
        # The fleet table is a canvas grid; its cells are mirrored in an accessible table.
        WebDriverWait(driver, 60).until(
            lambda d: (
                "pump-1" in (d.find_element(By.TAG_NAME, "body").get_attribute("textContent") or "")
            )
        )
        time.sleep(1.0)  # let the charts and metrics settle for the screenshot
        text = driver.find_element(By.TAG_NAME, "body").get_attribute("textContent") or ""
        for name in ("fan-1", "pump-1", "pump-2", "motor-1"):
            assert name in text
        assert "Fleet" in text
        assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
        assert not driver.find_elements(By.CSS_SELECTOR, ".stException")

        # Live panel: a new alarm shows up without a reload (st.fragment(run_every=1 s)).
        def alarm_count() -> str:
            values = metric_values(driver)
            return values[0] if values else ""

        assert alarm_count() == "1"
        store = open_store(store_url)
        latest = store.latest_scores()["fan-1"]
        store.write_scores([replace(latest, time_ns=time.time_ns(), score=3.0, alarm=True)])
        store.close()
        WebDriverWait(driver, 30).until(lambda d: alarm_count() == "2")
        shot = tmp_path / "fleet.png"
        assert driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
    finally:
        if driver is not None:
            driver.quit()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
