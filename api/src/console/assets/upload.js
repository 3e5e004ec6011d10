// The Upload page: starts a browser upload, PUTs each part straight to the store with the
// URL the server signed (three at a time, with a progress bar), asks again for what is still
// missing after a dropped connection, completes, then follows the job to its end. A file is
// only ever read a part at a time (File.slice), so several GB never sit in memory.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const csrf = form.dataset.csrf;
  const status = document.getElementById("upload-status");
  const bar = document.getElementById("upload-progress");
  const message = document.getElementById("upload-message");
  const jobLine = document.getElementById("upload-job");
  const resumedLine = document.getElementById("upload-resumed");
  const button = document.getElementById("upload-start");
  const IN_FLIGHT = 3;
  const mb = (n) => (n / 1e6).toFixed(1) + " MB";
  const say = (text) => { message.textContent = text; };
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  async function call(method, path, body) {
    const answer = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (answer.redirected) { location.assign(answer.url); throw new Error("signed out"); }
    const json = await answer.json().catch(() => ({}));
    if (!answer.ok) {
      const error = new Error((json.error && json.error.message) || "the server answered " + answer.status);
      error.status = answer.status;
      throw error;
    }
    return json;
  }

  // One part, PUT with its progress reported as bytes sent so far.
  function putPart(url, blob, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("PUT", url);
      xhr.upload.onprogress = (e) => onProgress(e.loaded);
      xhr.onload = () => (xhr.status >= 200 && xhr.status < 300 ? resolve() : reject(new Error("the store answered " + xhr.status)));
      xhr.onerror = () => reject(new Error("the connection dropped"));
      xhr.ontimeout = () => reject(new Error("the store did not answer"));
      xhr.send(blob);
    });
  }

  async function sendMissing(view, file) {
    const inFlight = new Map();
    const show = () => {
      let sent = view.bytes_received;
      for (const n of inFlight.values()) sent += n;
      bar.max = view.size;
      bar.value = Math.min(sent, view.size);
      say(mb(bar.value) + " of " + mb(view.size) + " sent");
    };
    const queue = view.part_urls.slice();
    // One part failing stops the others: what is missing is asked again with fresh URLs.
    let failed = false;
    async function worker() {
      while (queue.length > 0 && !failed) {
        const part = queue.shift();
        const start = (part.part_number - 1) * view.part_size;
        const blob = file.slice(start, Math.min(start + view.part_size, view.size));
        inFlight.set(part.part_number, 0);
        try {
          await putPart(part.url, blob, (loaded) => { inFlight.set(part.part_number, loaded); show(); });
          view.bytes_received += blob.size;
        } catch (e) {
          failed = true;
          throw e;
        } finally {
          inFlight.delete(part.part_number);
          show();
        }
      }
    }
    show();
    // Every worker ends before this returns, so no part is sent twice at once.
    const ended = await Promise.allSettled(Array.from({ length: IN_FLIGHT }, worker));
    const refused = ended.find((r) => r.status === "rejected");
    if (refused) throw refused.reason;
  }

  async function followJob(id) {
    for (;;) {
      const view = await call("GET", "/upload/" + id);
      const p = view.job_progress || {};
      const state = view.job_status;
      if (state === "done") {
        const rows = view.job_result && view.job_result.rows ? Object.values(view.job_result.rows).reduce((a, b) => a + b, 0) : 0;
        const unchanged = view.job_result && view.job_result.unchanged ? Object.values(view.job_result.unchanged).reduce((a, b) => a + b, 0) : 0;
        jobLine.textContent = "Job " + view.job_id + " done: " + rows + " rows stored" + (unchanged ? ", " + unchanged + " unchanged" : "") + ".";
        jobLine.className = "done";
        return;
      }
      if (state === "error" || state === "cancelled" || state === "quarantined") {
        jobLine.textContent = "Job " + view.job_id + " " + state + ": " + (view.job_error || "no reason given") + ".";
        jobLine.className = "error";
        return;
      }
      if (p.bytes_total) {
        bar.max = p.bytes_total;
        bar.value = p.bytes_read || 0;
      }
      jobLine.textContent = "Job " + view.job_id + " " + state + (p.step ? ": " + p.step : "") + (p.bytes_total ? ", " + mb(p.bytes_read || 0) + " of " + mb(p.bytes_total) + " read" : "") + "…";
      await sleep(1000);
    }
  }

  async function upload(file, customer, grid) {
    const resumeKey = ["upload", customer || "", grid, file.name, file.size, file.lastModified].join(":");
    let view = null;
    const earlier = localStorage.getItem(resumeKey);
    if (earlier) {
      view = await call("GET", "/upload/" + earlier).catch(() => null);
      if (view && view.status !== "open") view = null;
      if (view) resumedLine.textContent = "Resumed: " + mb(view.bytes_received) + " were already in the store; only the rest is sent.";
    }
    if (!view) {
      const asked = { grid, file_name: file.name, size: file.size };
      if (customer) asked.customer = customer;
      view = await call("POST", "/upload/start", asked);
      localStorage.setItem(resumeKey, view.id);
    }
    let failures = 0;
    while (view.part_urls.length > 0) {
      const before = view.bytes_received;
      try {
        await sendMissing(view, file);
        failures = 0;
      } catch (e) {
        // Counted only while nothing moves: a slow line that keeps sending never gives up.
        failures = view.bytes_received > before ? 1 : failures + 1;
        if (failures > 30) throw e;
        say(e.message + ": trying again in a few seconds (parts already sent stay sent)…");
        await sleep(Math.min(2000 * failures, 15000));
      }
      // What is still missing, with fresh URLs (they last minutes, not hours).
      for (;;) {
        try { view = await call("GET", "/upload/" + view.id); break; } catch (e) {
          if (e.status && e.status < 500) throw e;
          say("The server cannot be reached: trying again…");
          await sleep(3000);
        }
      }
    }
    say("All " + mb(view.size) + " sent; completing…");
    view = await call("POST", "/upload/" + view.id + "/complete");
    localStorage.removeItem(resumeKey);
    say("Sent: " + mb(view.size) + " as " + view.key + ".");
    await followJob(view.id);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = document.getElementById("upload-file").files[0];
    const grid = document.getElementById("upload-grid").value.trim();
    const customerInput = document.getElementById("upload-customer");
    const customer = customerInput ? customerInput.value.trim() : null;
    if (!file) return;
    status.hidden = false;
    button.disabled = true;
    jobLine.textContent = "";
    jobLine.className = "";
    resumedLine.textContent = "";
    try {
      await upload(file, customer, grid);
    } catch (e) {
      say("The upload stopped: " + e.message);
      message.className = "error";
    } finally {
      button.disabled = false;
    }
  });
});
