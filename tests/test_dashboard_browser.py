"""The operator page in a real headless Chromium (Debian's chromium and chromium-driver, driven
by Selenium), on the Procfile's real web and worker: a wrong token is refused, the right one
signs in, a paused session's countdown moves, and "Resume now" brings its campaigns back.

Set PHONEGUARD_SCREENSHOT_DIR to keep the page's screenshots (docs/dashboard.png is one).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from scripts.stack import Stack
from tests import e2e_helpers as e2e
from tests import signatures
from tests.fixtures import node_event

pytestmark = pytest.mark.processes

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
REQUIRED = bool(os.environ.get("CI")) or os.environ.get("PHONEGUARD_REQUIRE_DATABASES") == "1"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WORKSPACE, SESSION = 4, "front-desk"
COOLDOWN = 120  # long enough that only the button resumes within the test
WAIT = 15


def chromium_problem() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    return f"missing {', '.join(missing)}: apt-get install chromium chromium-driver" \
        if missing else None


@pytest.fixture(scope="module")
def browser_ready():
    problem = chromium_problem()
    if problem:
        if REQUIRED:
            pytest.fail(f"the browser test must run here (CI): {problem}")
        pytest.skip(problem)


def open_browser(width: int = 1280, height: int = 900, phone: bool = False,
                 *extra_flags: str):
    """A fresh Chromium with a profile of its own; nothing is downloaded (Selenium Manager is
    never asked: the driver and the binary are given)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="phoneguard-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                 *extra_flags):
        options.add_argument(flag)
    if phone:
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": {
            "width": width, "height": height, "pixelRatio": 1}})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    return driver, profile


def sign_in(driver, stack: Stack, token: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(stack.url("/dashboard"))
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "form.signin button").click()


def wait_until(condition, what: str, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except Exception:  # the page is being replaced under us: look again
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def card(driver, session_id: str):
    from selenium.webdriver.common.by import By

    for element in driver.find_elements(By.CSS_SELECTOR, "article.card"):
        if element.get_attribute("data-sid") == session_id:
            return element
    return None


def phone_message(stack: Stack, workspace_id: int, session_id: str) -> None:
    status, reply = stack.post("/api/v1/whatsapp/webhook",
                               node_event(session_id, workspace_id, message_id=session_id),
                               signatures.token_headers(stack.env["WEBHOOK_TOKEN"]))
    assert status == 200, reply


@pytest.fixture(scope="module")
def paused_stack(browser_ready):
    """SESSION paused by a phone message; beside it a held session, an active one (phone used,
    nothing to pause) and a paused one in another workspace."""
    env = {"CAMPAIGN_CONFLICT_TIER_COOLDOWN": f"1:{COOLDOWN}"}
    with Stack(env=env) as stack:
        for ws, sid, campaigns in ((WORKSPACE, SESSION, 2), (WORKSPACE, "reception", 1),
                                   (WORKSPACE, "sales", 0), (9, "support", 1)):
            stack.run_script("seed", "--workspace", str(ws), "--session", sid, "--tier", "1",
                             "--campaigns", str(campaigns))
        stack.start("web")
        e2e.start_worker(stack)
        for ws, sid in ((WORKSPACE, SESSION), (WORKSPACE, "sales"), (9, "support")):
            phone_message(stack, ws, sid)
        status, reply = stack.post(f"/api/v1/workspaces/{WORKSPACE}/sessions/reception/hold",
                                   {"minutes": 30},
                                   {"Authorization": f"Bearer {stack.env['API_TOKEN']}"})
        assert status == 200, reply
        e2e.wait_for_status(stack, WORKSPACE, SESSION, "paused_mobile", 10)
        e2e.wait_for_status(stack, 9, "support", "paused_mobile", 10)
        yield stack


def test_a_wrong_token_is_refused_with_a_message_and_shows_nothing_else(paused_stack):
    from selenium.webdriver.common.by import By

    driver, profile = open_browser()
    try:
        sign_in(driver, paused_stack, "not-the-token")

        (alert,) = wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, "[role=alert]"),
                              "the refusal")
        assert "Wrong token" in alert.text
        assert driver.find_elements(By.ID, "sessions") == []
        assert driver.get_cookies() == []
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_an_operator_signs_in_sees_the_countdown_move_and_resumes_the_session(paused_stack):
    from selenium.webdriver.common.by import By

    stack = paused_stack
    driver, profile = open_browser()
    try:
        sign_in(driver, stack, stack.env["API_TOKEN"])
        found = wait_until(lambda: card(driver, SESSION), "the paused session's card")
        assert found.find_element(By.CSS_SELECTOR, ".state").text == "Paused"
        (cookie,) = driver.get_cookies()
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie.get("expiry")

        first = card(driver, SESSION).find_element(By.CSS_SELECTOR, ".countdown").text
        moved = wait_until(lambda: (t := card(driver, SESSION).find_element(
            By.CSS_SELECTOR, ".countdown").text) != first and t, "the countdown to move", 5)
        assert _seconds(moved) < _seconds(first) <= COOLDOWN
        keep_screenshots(stack)

        card(driver, SESSION).find_element(By.CSS_SELECTOR, "button[data-action=resume]").click()

        rows = e2e.wait_for_status(stack, WORKSPACE, SESSION, "ongoing", WAIT)
        assert [row.status for row in rows] == ["ongoing", "ongoing"]
        wait_until(lambda: "Resumed" in driver.find_element(By.ID, "flash").text,
                   "the page to say so")
        wait_until(lambda: card(driver, SESSION).find_element(By.CSS_SELECTOR, ".state").text
                   != "Paused", "the card to leave the paused state")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _seconds(countdown: str) -> int:
    """'1:05' or '1:02:03' as seconds."""
    total = 0
    for part in countdown.split(":"):
        total = total * 60 + int(part)
    return total


def keep_screenshots(stack: Stack) -> None:
    """The page at a desktop and a phone width, into PHONEGUARD_SCREENSHOT_DIR if it is set."""
    target = os.environ.get("PHONEGUARD_SCREENSHOT_DIR")
    if not target:
        return
    for name, width, height, phone in (("dashboard.png", 1200, 820, False),
                                       ("dashboard-phone.png", 390, 844, True)):
        driver, profile = open_browser(width, height, phone, "--hide-scrollbars")
        try:
            sign_in(driver, stack, stack.env["API_TOKEN"])
            wait_until(lambda d=driver: card(d, SESSION), "the card")
            time.sleep(1.2)  # a tick of the countdown and the relative time
            driver.save_screenshot(str(Path(target) / name))
        finally:
            driver.quit()
            shutil.rmtree(profile, ignore_errors=True)
