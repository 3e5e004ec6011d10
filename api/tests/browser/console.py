#!/usr/bin/env python3
"""The console in a real headless Chromium (Debian's chromium + chromedriver, driven by
selenium), as an operator uses it: refused without a session, sign in with the keyboard,
the overview, a mail's job and its trail, retry it and see the retry, release a quarantined
mail, the grids, phone width, sign out. Nothing may load from outside the page's origin.

    console.py BASE_URL API_KEY MAIL_JOB_ID TO_RELEASE_JOB_ID TO_DELETE_JOB_ID [SCREENSHOT_DIR]

Exit 0 when every check holds; the first failed check is printed and exits 1."""

import re
import sys
from urllib.parse import urlparse

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from driver import check, driver, h1, path, wait

base, key, mail_job, quarantined, spam = sys.argv[1:6]
shots = sys.argv[6] if len(sys.argv) > 6 else None


def shot(name):
    """The whole page (the window grown to its height for the picture), for the README."""
    if shots:
        width, height = driver.get_window_size()["width"], driver.get_window_size()["height"]
        full = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, min(max(height, full + 140), 2400))
        driver.save_screenshot(f"{shots}/console-{name}.png")
        driver.set_window_size(width, height)


def same_origin_only():
    origin = urlparse(base).netloc
    loaded = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    return all(urlparse(u).netloc == origin for u in loaded)


try:
    # No page, and no data, without a session.
    for page in ["/", "/jobs", f"/jobs/{mail_job}", "/quarantine", "/grids"]:
        driver.get(base + page)
        check(path() == "/login", f"{page} without a session shows the sign-in form")
    shot("signin")
    box = driver.find_element(By.ID, "key")
    box.send_keys("not-a-key-at-all-0000", Keys.ENTER)
    wait("a wrong key is refused with a message", lambda: "not valid" in driver.find_element(By.CSS_SELECTOR, "p.error").text)
    check(path() == "/login", "a wrong key stays on the sign-in form")

    # Sign in with the keyboard alone: type the key, press Enter.
    driver.find_element(By.ID, "key").send_keys(key, Keys.ENTER)
    wait("signing in shows the overview", lambda: h1() == "Overview")
    check(key not in driver.current_url, "the key is not in the URL")
    cookie = driver.get_cookie("dp_console")
    check(cookie is not None and cookie["httpOnly"] and cookie.get("sameSite") == "Strict" and cookie.get("expiry"),
          f"the session cookie is HttpOnly, SameSite=Strict and expires ({cookie})")
    cards = driver.find_elements(By.CSS_SELECTOR, ".cards .card")
    check(len(cards) == 6, "the overview counts jobs in each of the six states")
    check(len(driver.find_elements(By.CSS_SELECTOR, "figure.chart svg")) == 2, "two charts: 24 hours and 7 days")
    check("Oldest queued job" in driver.page_source and "Mail in quarantine" in driver.page_source,
          "the oldest queued job and the quarantine are on the overview")
    check(same_origin_only(), "nothing loads from outside the console's origin")
    shot("overview")

    # Keyboard: the first Tab reaches the skip link, the next the navigation.
    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    check(driver.switch_to.active_element.text == "Skip to content", "Tab first reaches 'Skip to content'")
    driver.switch_to.active_element.send_keys(Keys.TAB)
    check(driver.switch_to.active_element.text == "Overview", "then the navigation")

    # Jobs: the mail's job is listed; filters narrow the list.
    driver.find_element(By.LINK_TEXT, "Jobs").click()
    wait("the jobs list", lambda: h1() == "Jobs")
    check(len(driver.find_elements(By.CSS_SELECTOR, f"a[href='/jobs/{mail_job}']")) == 1, f"job {mail_job} is listed")
    shot("jobs")
    # The list refreshes by itself: rows wiped from the page come back from the server.
    driver.execute_script("document.querySelector('table.jobs tbody').innerHTML = ''")
    wait("the list refreshes by itself within a few seconds",
         lambda: len(driver.find_elements(By.CSS_SELECTOR, f"table.jobs a[href='/jobs/{mail_job}']")) == 1, 12)
    driver.get(base + "/jobs?state=quarantined")
    rows = driver.find_elements(By.CSS_SELECTOR, "table.jobs tbody tr")
    check(len(rows) >= 1 and all("quarantined" in r.text for r in rows), "the state filter shows quarantined jobs only")
    driver.get(base + "/jobs")

    # The mail's job: its trail as a timeline, its files, then retry it.
    driver.find_element(By.CSS_SELECTOR, f"a[href='/jobs/{mail_job}']").click()
    wait("the job's page", lambda: h1() == f"Job {mail_job}")
    events = driver.find_elements(By.CSS_SELECTOR, "ol.timeline li")
    check(len(events) >= 4, f"the trail shows each step ({len(events)} events)")
    check(any(e.find_elements(By.CSS_SELECTOR, ".bar") for e in events), "steps with a duration have a bar")
    message = [a for a in driver.find_elements(By.CSS_SELECTOR, "ul.files a") if a.text == "message.eml"]
    check(len(message) == 1, "the job's files include the message, to download")
    fetch = "return fetch(arguments[0]).then(r => r.text().then(t => [r.status, r.headers.get('content-disposition'), t]))"
    status, disposition, content = driver.execute_script(fetch, message[0].get_attribute("href"))
    check(status == 200 and "attachment" in disposition and "Subject:" in content,
          "downloading it gives the raw message as an attachment")
    status, _, _ = driver.execute_script(fetch, f"/jobs/{mail_job}/file?path=../../../../../../etc/passwd")
    check(status == 404, "a path outside the job's folder is not served")
    shot("job")
    trail_before = len(events)
    driver.find_element(By.XPATH, "//button[text()='Retry']").click()
    wait("the retry is confirmed", lambda: "Queued again." in driver.find_element(By.CSS_SELECTOR, "p.notice").text)

    def retried_and_done():
        driver.refresh()
        badge = driver.find_element(By.CSS_SELECTOR, "section.job .badge").text
        return badge == "done" and len(driver.find_elements(By.CSS_SELECTOR, "ol.timeline li")) > trail_before

    wait("the retried job runs again to done, its trail longer", retried_and_done, 60)
    check("retry requested in the console" in driver.page_source, "the trail says the console asked for the retry")

    # Quarantine: the mail with its reason; view it; release it.
    driver.find_element(By.LINK_TEXT, "Quarantine").click()
    wait("the quarantine", lambda: h1() == "Quarantine")
    item = driver.find_element(By.XPATH, f"//ul[@class='quarantine']/li[.//a[@href='/jobs/{quarantined}']]")
    check("is not allowed" in item.text and "colleague@elsewhere.example" in item.text,
          "the quarantined mail shows its reason and sender")
    check(item.find_element(By.LINK_TEXT, "View message").get_attribute("href").endswith(f"/quarantine/{quarantined}/message"),
          "its message can be viewed")
    view = "return fetch(arguments[0]).then(r => r.text().then(t => [r.status, r.headers.get('content-type'), t]))"
    status, kind, content = driver.execute_script(view, f"/quarantine/{quarantined}/message")
    check(status == 200 and kind.startswith("text/plain") and content.startswith("X-Forwarded-By: a colleague"),
          "viewing it shows the raw message as plain text")
    shot("quarantine")
    item.find_element(By.XPATH, ".//button[text()='Release']").click()
    wait("releasing answers with the outcome", lambda: f"Job {quarantined}" in driver.find_element(By.CSS_SELECTOR, "p.notice").text)
    check("released as job" in driver.find_element(By.CSS_SELECTOR, "p.notice").text, "the mail was released as a new job")
    check(not driver.find_elements(By.XPATH, f"//ul[@class='quarantine']/li[.//a[@href='/jobs/{quarantined}']]"),
          "it has left the quarantine")
    # Delete asks first: dismissing keeps the mail, accepting deletes it.
    doomed = f"//ul[@class='quarantine']/li[.//a[@href='/jobs/{spam}']]"
    driver.find_element(By.XPATH, doomed + "//button[text()='Delete']").click()
    driver.switch_to.alert.dismiss()
    check(len(driver.find_elements(By.XPATH, doomed)) == 1, "dismissing the question keeps the mail")
    driver.find_element(By.XPATH, doomed + "//button[text()='Delete']").click()
    driver.switch_to.alert.accept()
    wait("deleting answers with the outcome", lambda: f"Job {spam} deleted." in driver.find_element(By.CSS_SELECTOR, "p.notice").text)
    check(not driver.find_elements(By.XPATH, doomed), "the deleted mail has left the quarantine")
    # A mail that left the quarantine has no module to run it: no Retry on its job page
    # (before, Retry was offered and failed with `no module handles unknown/unknown`).
    for gone in [spam, quarantined]:
        driver.get(base + f"/jobs/{gone}")
        wait(f"job {gone}'s page", lambda: h1() == f"Job {gone}")
        check(not driver.find_elements(By.XPATH, "//button[text()='Retry']"),
              f"no Retry on job {gone}, quarantined mail that was released or deleted")
        check("cannot be retried" in driver.page_source, f"job {gone}'s page says why it cannot be retried")
    driver.get(base + "/quarantine")

    # Grids.
    driver.find_element(By.LINK_TEXT, "Grids").click()
    wait("the grids", lambda: h1() == "Grids")
    grid = driver.find_element(By.XPATH, "//table[contains(@class,'grids')]//tr[td[2][text()='fryer_grid']]")
    check("overdue" in grid.text and "bobs_burgers" in grid.text,
          "the grid whose last daily report is days old is listed and flagged overdue")
    # Every time on the page carries its zone.
    stamps = re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d.{0,4}",
                        driver.find_element(By.CSS_SELECTOR, "table.grids").text)
    check(len(stamps) >= 2 and all(s.endswith(" UTC") for s in stamps),
          f"every time on the grids page says UTC: {stamps}")
    shot("grids")

    # Phone width: nothing wider than the screen.
    driver.set_window_size(390, 844)
    for page in ["/", "/jobs", f"/jobs/{mail_job}", "/quarantine", "/grids"]:
        driver.get(base + page)
        wide = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        check(wide <= 1, f"{page} fits a phone's width ({wide} px over)")
        if page in ["/", f"/jobs/{mail_job}"]:
            shot("phone-" + ("overview" if page == "/" else "job"))
    driver.set_window_size(1280, 900)

    # A form without the session's CSRF token changes nothing.
    driver.get(base + "/jobs")
    driver.execute_script(
        "const f = document.createElement('form'); f.method = 'post'; f.action = '/jobs/%s/retry';"
        "const i = document.createElement('input'); i.name = 'csrf'; i.value = 'forged'; f.appendChild(i);"
        "document.body.appendChild(f); f.submit();" % mail_job)
    wait("a forged form is refused", lambda: "stale or did not come from the console" in driver.page_source)

    # Signed out elsewhere (another tab): the jobs list's next refresh goes to the sign-in
    # page instead of putting it inside the table.
    driver.get(base + "/jobs")
    csrf = driver.find_element(By.CSS_SELECTOR, "form.signout input[name=csrf]").get_attribute("value")
    driver.execute_script(
        "fetch('/logout', {method: 'POST', credentials: 'same-origin', redirect: 'manual',"
        " body: new URLSearchParams({csrf: arguments[0]})})", csrf)
    wait("the refresh after a sign-out elsewhere shows the sign-in page", lambda: path() == "/login", 15)
    check(not driver.find_elements(By.CSS_SELECTOR, "table.jobs"), "no sign-in form inside a table")
    driver.find_element(By.ID, "key").send_keys(key, Keys.ENTER)
    wait("signing in again", lambda: h1() == "Overview")

    refused = [entry["message"] for entry in driver.get_log("browser")
               if "Content Security Policy" in entry["message"]]
    check(not refused, f"nothing on any page was refused by the Content-Security-Policy: {refused}")

    # Sign out: the session is gone.
    driver.get(base + "/")
    driver.find_element(By.XPATH, "//button[text()='Sign out']").click()
    wait("signing out shows the sign-in form", lambda: path() == "/login")
    driver.get(base + "/jobs")
    check(path() == "/login", "after signing out no page is shown")
finally:
    driver.quit()
print("all console checks passed")
