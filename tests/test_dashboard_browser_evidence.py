"""The real thing: open an alarm's evidence (waveform, spectrum, envelope spectrum with the
bearing defect frequencies) in ``tinypdm dashboard`` with Debian's headless Chromium."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support import (
    BEARING,
    CHROMEDRIVER,
    make_registry,
    require,
    require_tool,
    specs_for,
    tinypdm_command,
    wait_healthy,
)

pytestmark = [pytest.mark.chromium, pytest.mark.slow]


def test_dashboard_alarm_evidence_renders_in_headless_chromium(tmp_path: Path) -> None:
    require_tool("chromium", "chromium")
    require(os.access(CHROMEDRIVER, os.X_OK), f"{CHROMEDRIVER} missing (Debian chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from dashboard.sample_fleet import sample_evidence, seed_fleet
    from vibration.telemetry.stores import open_store
    from vibration.telemetry.stores.influxd_process import free_port

    hashes = make_registry(tmp_path / "models")
    manifest = tmp_path / "models" / "bundles" / "v2" / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "bearing": BEARING}))
    store_url = f"sqlite:///{tmp_path}/scores.db"
    store = open_store(store_url)
    seed_fleet(store, now_ns=time.time_ns(), specs=specs_for(hashes), hours=1.0, seed=1)
    record = sample_evidence(store, "pump-1", model=hashes["bundles/v2"][:12])
    store.close()
    assert record is not None

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "dashboard.log").open("wb")
    proc = subprocess.Popen(
        [*tinypdm_command(), "dashboard", "--store", store_url, "--port", str(port),
         "--models", str(tmp_path / "models")],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    driver = None
    try:
        wait_healthy(url, proc)
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in (
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--window-size=1400,3000", f"--user-data-dir={tmp_path / 'chrome'}",
        ):  # fmt: skip
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        driver.get(f"{url}/sensor?sensor=pump-1")

        def body_text() -> str:
            return driver.find_element(By.TAG_NAME, "body").get_attribute("textContent") or ""

        WebDriverWait(driver, 60).until(lambda d: "BPFO" in body_text())

        def drawn_charts() -> int:
            charts = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stVegaLiteChart"]')
            # vega-embed draws each chart into a canvas (or svg) once its data arrived
            return sum(1 for c in charts if c.find_elements(By.CSS_SELECTOR, "canvas, svg"))

        WebDriverWait(driver, 60).until(lambda d: drawn_charts() >= 6)
        text = body_text()
        for wanted in ("Alarm evidence", "Waveform", "Amplitude spectrum", "Envelope spectrum",
                       "4096 samples at 12000 Hz", "BPFO 107.4 Hz"):  # fmt: skip
            assert wanted in text, wanted
        assert "No raw window was captured" not in text
        assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
        assert not driver.find_elements(By.CSS_SELECTOR, ".stException")
        alerts = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stAlert"]')
        assert not [a.text for a in alerts if "Error" in a.text]
        # script errors (a chart that failed to draw); network ones are the sandbox's lack
        # of internet (icon fonts) and Streamlit probing a relative health path
        errors = [
            e for e in driver.get_log("browser")
            if e.get("level") == "SEVERE" and e.get("source") != "network"
        ]  # fmt: skip
        assert not errors, errors
        shot = tmp_path / "evidence.png"
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
