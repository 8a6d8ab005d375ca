// An import's progress page: polls the import's state every second until it is done, drawing text only.
(() => {
  "use strict";
  const root = document.getElementById("import");
  if (!root) return;
  const set = (id, value) => { document.getElementById(id).textContent = String(value); };
  async function poll() {
    let data;
    try {
      const response = await fetch(root.dataset.url, { credentials: "same-origin" });
      data = await response.json();
    } catch { setTimeout(poll, 3000); return; }
    document.getElementById("import-progress").value = data.percent;
    set("import-processed", data.processed);
    set("import-created", data.created);
    set("import-merged", data.merged);
    set("import-refused-count", data.refused_count);
    const error = document.getElementById("import-error");
    error.textContent = data.error || "";
    error.hidden = !data.error;
    set("import-state", data.state === "done" ? "Done" : data.state === "failed" ? "Failed" : "Running…");
    const body = document.getElementById("import-refused");
    body.replaceChildren(...data.refused.map((row) => {
      const tr = document.createElement("tr");
      for (const value of [row.line, row.reason]) {
        const td = document.createElement("td");
        td.textContent = String(value);
        tr.appendChild(td);
      }
      return tr;
    }));
    if (data.state !== "done" && data.state !== "failed") setTimeout(poll, 1000);
  }
  if (root.dataset.state !== "done" && root.dataset.state !== "failed") setTimeout(poll, 500);
})();
