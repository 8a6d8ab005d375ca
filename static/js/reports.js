// The export page: polls the job's status until it is done, moving the progress bar; then shows the link.
(function () {
  "use strict";
  const job = document.getElementById("export-job");
  if (!job) return;
  const bar = document.getElementById("export-progress");
  const percent = document.getElementById("export-percent");
  const message = document.getElementById("export-message");
  const links = [document.getElementById("export-download"), document.getElementById("export-view")].filter(Boolean);

  async function poll() {
    let status;
    try {
      const response = await fetch(job.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
      status = await response.json();
    } catch {
      message.textContent = "The hub could not be reached; trying again…";
      setTimeout(poll, 2000);
      return;
    }
    job.dataset.state = status.state;
    bar.value = status.percent;
    percent.textContent = status.percent + "%";
    if (status.state === "done") {
      message.textContent = "Ready: " + status.total + " entries.";
      for (const link of links) link.hidden = false;
    } else if (status.state === "failed") {
      message.textContent = status.error || "The export failed.";
    } else {
      message.textContent = status.total ? "Exporting… " + status.done + " of " + status.total + " entries" : "Exporting…";
      setTimeout(poll, 700);
    }
  }
  if (job.dataset.state !== "done" && job.dataset.state !== "failed") poll();
})();
