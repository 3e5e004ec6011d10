"""What the browser checks share: Debian's headless Chromium driven by selenium (through
chromedriver), and the checks' small vocabulary: `check`, `wait`, the page's `path` and `h1`.
The first failed check prints the page (and the browser's console) and exits 1."""

import sys
import time
from urllib.parse import urlparse

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900",
             "--no-first-run", "--disable-extensions", "--disable-background-networking"]:
    options.add_argument(flag)
# The browser's console messages, to find anything the Content-Security-Policy refused.
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
driver.implicitly_wait(0)


def check(condition, what):
    if not condition:
        logs = "\n".join(e["message"] for e in driver.get_log("browser"))
        print(f"FAILED: {what}\n  at {driver.current_url}\n  page: {driver.find_element(By.TAG_NAME, 'body').text[:1500]}"
              f"\n  console: {logs[:1500]}")
        driver.quit()
        sys.exit(1)
    print(f"ok: {what}")


def wait(what, predicate, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if predicate():
                print(f"ok: {what}")
                return
        except Exception:  # the page is being replaced: look again
            pass
        time.sleep(0.05)
    check(False, what)


def path():
    return urlparse(driver.current_url).path


def h1():
    return driver.find_element(By.TAG_NAME, "h1").text
