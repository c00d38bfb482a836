"""Browser test (issue 7): the logged run, seen the way a reviewer sees it.

The quickstart is logged into a temporary SQLite store (``logged_quickstart`` in
conftest.py), ``mlflow server`` is started on 127.0.0.1 against that store, and
headless Debian Chromium (driven through ChromeDriver by selenium) opens the run
page with the SHAP beeswarm plot selected in the Artifacts tab. The test asserts
that the run's name and id and the SHAP artifacts are on the page and that the
selected plot was served as an image, and saves a screenshot under its temporary
folder.

Needs the Debian packages ``chromium`` and ``chromium-driver`` (CI installs them in
``.ci/run``). Without ``/usr/bin/chromium`` the test is skipped, except under CI
(``CI`` set), where it fails.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SERVER_TIMEOUT_S = 90
PAGE_TIMEOUT_S = 60
ARTIFACT = "plots/shap_beeswarm.png"

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning",
                                        "ignore::UserWarning:mlflow")


def _require_browser() -> None:
    """Skip without Chromium on a developer's machine; fail under CI, which must install it."""
    if not CHROMIUM.exists():
        reason = (f"{CHROMIUM} is not installed (apt-get install chromium chromium-driver); "
                  "the browser test of the MLflow run page needs it")
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {reason}: .ci/run should have installed it")
        pytest.skip(reason)
    if not CHROMEDRIVER.exists():
        pytest.fail(f"{CHROMIUM} is installed but {CHROMEDRIVER} is not: "
                    "apt-get install chromium-driver")


@pytest.fixture(scope="session", autouse=True)
def _browser_installed():
    """Checked before the (slow) quickstart fixture: session-scoped autouse fixtures come first."""
    _require_browser()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen) -> None:
    """End the server and its workers (its own process group), politely then by force."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def mlflow_server(logged_quickstart, tmp_path_factory):
    """``mlflow server`` on a free loopback port against the quickstart's store; its URL.

    The server runs in its own process group, which the finalizer always ends.
    """
    _, _, uri, _ = logged_quickstart
    folder = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    log = folder / "server.log"
    cmd = [str(mlflow_bin), "server", "--backend-store-uri", uri, "--host", "127.0.0.1",
           "--port", str(port), "--workers", "1",
           "--artifacts-destination", str(folder / "artifacts")]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=folder, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + SERVER_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited with code {proc.returncode}:\n{_tail(log)}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not answer {url}/health within "
                            f"{SERVER_TIMEOUT_S} s:\n{_tail(log)}")
            time.sleep(0.5)
        yield url
    finally:
        _stop(proc)


@pytest.fixture
def browser(tmp_path):
    """Headless Debian Chromium through ChromeDriver; quit (and its processes ended) after."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    # Flags known to work on these machines: no sandbox as root, and no background
    # connections, which the closed network would refuse.
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1000",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    try:
        yield driver
    finally:
        driver.quit()


def _check_png(path: Path) -> None:
    """A valid PNG of a real page: the signature, a decodable image, and not one colour."""
    import matplotlib.image as mpimg

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] >= 500 and img.shape[1] >= 800, img.shape
    rgb = img[..., :3]
    assert float(rgb.std()) > 0.02, "the screenshot is blank (one flat colour)"
    colours = np.unique((rgb.reshape(-1, 3) * 255).astype(np.uint8), axis=0)
    assert len(colours) > 50, f"the screenshot has only {len(colours)} colours"


def test_run_page_shows_the_run_and_its_shap_artifact(logged_quickstart, mlflow_server, browser,
                                                     tmp_path):
    from mlflow import MlflowClient
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _, info, uri, _ = logged_quickstart
    run = MlflowClient(uri).get_run(info["silence"].run_id)
    run_id, run_name, exp_id = run.info.run_id, run.info.run_name, run.info.experiment_id
    artifact_name = ARTIFACT.rsplit("/", 1)[1]
    # The run page's Artifacts tab with the beeswarm plot selected (MLflow 3's route
    # /experiments/:experimentId/runs/:runUuid/artifacts/<path>): the tree opens at plots/.
    page = f"{mlflow_server}/#/experiments/{exp_id}/runs/{run_id}/artifacts/{ARTIFACT}"
    browser.get(page)

    def page_text(driver) -> str:
        return driver.find_element(By.TAG_NAME, "body").text

    def shown(driver) -> bool:
        text = page_text(driver)
        return run_name in text and artifact_name in text and "shap_bar.png" in text

    def preview_loaded(driver) -> bool:  # the artifact viewer's <img alt="plots/...png">, decoded
        return bool(driver.execute_script(
            "return Array.from(document.images).some(i => i.alt === arguments[0] && i.complete"
            " && i.naturalWidth > 200 && i.naturalHeight > 200);", ARTIFACT))

    try:
        WebDriverWait(browser, PAGE_TIMEOUT_S, poll_frequency=0.5).until(shown)
        WebDriverWait(browser, PAGE_TIMEOUT_S, poll_frequency=0.5).until(preview_loaded)
    except TimeoutException:
        (tmp_path / "page.html").write_text(browser.page_source, encoding="utf-8")
        browser.save_screenshot(str(tmp_path / "timeout.png"))
        pytest.fail(f"{page} did not show run {run_name!r} with {ARTIFACT} (and its preview) "
                    f"within {PAGE_TIMEOUT_S} s; page text:\n{page_text(browser)[:3000]}")
    text = page_text(browser)
    assert run_name in text
    assert run_id in text or run_id in browser.page_source
    assert artifact_name in text and "shap_bar.png" in text
    shot = tmp_path / "mlflow_run_page.png"
    assert browser.save_screenshot(str(shot))
    _check_png(shot)
