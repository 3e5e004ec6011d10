#!/usr/bin/env python3
"""A customer's console in a real headless Chromium (Debian's chromium + chromedriver,
driven by selenium): sign in with the customer's own API key, see only the customer's
navigation, upload an export through the Upload page with the progress bar moving, lose
the page halfway (reload) and resume with only the missing parts sent, see the job end with
its rows counted, and get "not found" for another customer's job and the quarantine.

    upload.py BASE_URL CUSTOMER_API_KEY EXPORT_PATH OTHER_CUSTOMERS_JOB_ID

Exit 0 when every check holds; the first failed check is printed and exits 1."""

import sys
import time
from urllib.parse import urlparse

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from driver import check, driver, h1, path, wait

base, key, export, other_job = sys.argv[1:5]


def progress():
    return driver.execute_script("const p = document.getElementById('upload-progress'); return [p.value, p.max];")


def start_upload():
    driver.get(base + "/upload")
    wait("the Upload page", lambda: h1() == "Upload")
    driver.find_element(By.ID, "upload-grid").send_keys("fryer_grid")
    driver.find_element(By.ID, "upload-file").send_keys(export)
    driver.find_element(By.ID, "upload-start").click()


try:
    driver.get(base + "/login")
    driver.find_element(By.ID, "key").send_keys(key, Keys.ENTER)
    wait("a customer's key signs in to its own jobs", lambda: h1() == "Jobs")
    nav = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "header nav a")]
    check(nav == ["Jobs", "Grids", "Upload"], f"a customer's navigation is its jobs, grids and uploads ({nav})")
    check("bobs_burgers" in driver.find_element(By.CSS_SELECTOR, "header .who").text, "the page names the customer")

    # Another customer's job, typed in the address bar: not found, like a job that never was.
    driver.get(f"{base}/jobs/{other_job}")
    check(h1() == "Not found" and "does not exist" in driver.page_source, "another customer's job is not found")
    driver.get(base + "/quarantine")
    check(h1() == "Not found", "the quarantine is the operator's")
    driver.get(base + "/")
    check(path() == "/jobs", "the overview of every customer is the operator's: home is the jobs")

    # Slow the line so the bar can be watched (loopback is faster than any customer's).
    driver.set_network_conditions(offline=False, latency=5, download_throughput=50_000_000, upload_throughput=6_000_000)
    start_upload()
    seen = set()
    deadline = time.time() + 60
    while time.time() < deadline:
        value, top = progress()
        if top > 1 and 0 < value < top:
            seen.add(value)
        # Three parts go at once: past 70 % the first three are whole in the store.
        if top > 1 and value > top * 0.7:
            break
        time.sleep(0.05)
    check(len(seen) >= 3, f"the progress bar moves while the parts are sent ({len(seen)} readings)")
    # The page is lost halfway (a reload, a closed tab): picking the same file again resumes.
    driver.refresh()
    driver.set_network_conditions(offline=False, latency=5, download_throughput=50_000_000, upload_throughput=50_000_000)
    start_upload()
    wait("picking the same file again resumes with what was sent",
         lambda: "Resumed:" in driver.find_element(By.ID, "upload-resumed").text
         and not driver.find_element(By.ID, "upload-resumed").text.startswith("Resumed: 0.0 MB"), 20)
    wait("the job ends with its rows counted", lambda: "rows stored" in driver.find_element(By.ID, "upload-job").text, 120)
    job_line = driver.find_element(By.ID, "upload-job").text
    check(" done: " in job_line and not job_line.split("done: ")[1].startswith("0 "), f"the job is done with rows ({job_line})")
    parts = driver.execute_script("return performance.getEntriesByType('resource').filter(e => e.name.includes('partNumber=')).map(e => new URL(e.name).searchParams.get('partNumber'))")
    check(len(parts) == len(set(parts)) and len(parts) < 5,
          f"after the reload only the missing parts were sent ({sorted(parts)})")
    origin = urlparse(base).netloc
    loaded = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    check(all(urlparse(u).netloc == origin for u in loaded), "nothing loads from outside the console's origin")
    driver.get(base + "/jobs")
    check("veritas2hview" in driver.page_source, "the upload's job is in the customer's jobs")
    print("all upload checks passed")
finally:
    driver.quit()
