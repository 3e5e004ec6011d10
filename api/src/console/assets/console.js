// The console's only script: lists that refresh by themselves, and a confirmation before
// destructive buttons. Pages work without it (forms post, links navigate).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const body of document.querySelectorAll("tbody[data-refresh]")) {
    const every = Number(body.dataset.refresh) || 5000;
    setInterval(async () => {
      if (document.hidden) return;
      try {
        const answer = await fetch(location.href, { headers: { "X-Console-Rows": "1" }, credentials: "same-origin" });
        // Signed out (here or in another tab): the session's pages redirect to the sign-in
        // page, which belongs in the window, not inside the table.
        if (answer.redirected) {
          location.assign(answer.url);
          return;
        }
        if (answer.ok) body.innerHTML = await answer.text();
      } catch (_) {
        // Offline for a moment: the next tick tries again.
      }
    }, every);
  }
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
});
