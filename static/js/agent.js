// The agent page's live part: one websocket, idempotent upserts, catch-up after a reconnect.
// Rows and the thread header carry their conversation's version, entries their own: a drawing is replaced
// only by a newer one, so a frame heard twice (live and in a catch-up) changes nothing the second time.
// `cursor` is the event-log position the server has confirmed this page holds everything up to; a new
// socket resumes from it. Live frames never move it: a frame the channel layer dropped stays after it.
(() => {
  "use strict";
  const body = document.body;
  const me = body.dataset.user || "";
  const openConversation = body.dataset.conversation ? Number(body.dataset.conversation) : null;
  const filter = { view: body.dataset.view || "all", status: body.dataset.status || "open" };
  let cursor = Number(body.dataset.seq || 0);
  let socket = null;
  let attempts = 0;
  let pingTimer = null;

  const $ = (id) => document.getElementById(id);
  const list = $("conversation-list");
  const timeline = $("timeline");

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function fromHTML(html) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content;
  }

  const timeFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  function localizeTimes(root) {
    root.querySelectorAll("time[datetime]").forEach((el) => {
      const when = new Date(el.getAttribute("datetime"));
      if (!Number.isNaN(when.getTime())) el.textContent = timeFormat.format(when);
    });
  }

  function setConnection(state, text) {
    const el = $("connection");
    if (!el) return;
    el.dataset.state = state;
    el.textContent = text;
  }

  // --- the list ----------------------------------------------------------------------------------
  function rowMatches(row) {
    if (filter.status !== "all" && row.dataset.status !== filter.status) return false;
    if (filter.view === "mine" && row.dataset.assignee !== me) return false;
    if (filter.view === "unassigned" && row.dataset.assignee !== "") return false;
    if (filter.view === "unanswered" && row.dataset.unanswered !== "1") return false;
    return true;
  }

  function upsertRow(html) {
    if (!list) return;
    const row = fromHTML(html).querySelector(".conversation-row");
    if (!row) return;
    const existing = document.getElementById(row.id);
    if (existing && Number(existing.dataset.version) > Number(row.dataset.version)) return;
    if (existing) existing.remove();
    if (body.dataset.inbox && !existing) {
      // Filtered by inbox: only rows already shown are updated; a reload shows newcomers.
      return;
    }
    if (rowMatches(row)) {
      if (Number(row.dataset.conversation) === openConversation) row.classList.add("active");
      const activity = Date.parse(row.dataset.activity);
      let before = list.querySelector(".more");
      for (const other of list.querySelectorAll(".conversation-row")) {
        if (Date.parse(other.dataset.activity) < activity) { before = other; break; }
      }
      list.insertBefore(row, before);
      localizeTimes(row);
    }
    const empty = $("list-empty");
    if (empty) empty.hidden = list.querySelector(".conversation-row") !== null;
  }

  // --- the thread --------------------------------------------------------------------------------
  function nearBottom() {
    return timeline && timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 120;
  }

  function sortKey(el) {
    return [Number(el.dataset.sort), Number(el.dataset.entry)];
  }

  function upsertEntry(entry) {
    if (!timeline) return;
    const el = fromHTML(entry.html).querySelector(".entry");
    if (!el) return;
    const existing = document.getElementById("entry-" + entry.id);
    if (existing) {
      if (Number(existing.dataset.version) >= Number(entry.version)) return;
      existing.replaceWith(el);
    } else {
      const stick = nearBottom();
      const [when, id] = sortKey(el);
      let before = null;
      const entries = timeline.querySelectorAll(".entry");
      for (let i = entries.length - 1; i >= 0; i--) {
        const [otherWhen, otherId] = sortKey(entries[i]);
        if (otherWhen < when || (otherWhen === when && otherId < id)) break;
        before = entries[i];
      }
      timeline.insertBefore(el, before);
      if (stick) timeline.scrollTop = timeline.scrollHeight;
    }
    localizeTimes(el);
  }

  function replaceHeader(html) {
    const header = fromHTML(html).querySelector(".thread-header");
    const existing = $("thread-header");
    if (!header || !existing) return;
    if (Number(existing.dataset.version) > Number(header.dataset.version)) return;
    existing.replaceWith(header);
    localizeTimes(header);
  }

  function confirmed(upto) {
    if (typeof upto === "number") cursor = Math.max(cursor, upto);
  }

  function applyFrame(frame) {
    if (frame.type === "conversation.merged" && frame.into) {
      // The customer was merged into another: their thread lives on there.
      const row = document.querySelector('.conversation-row[data-conversation="' + frame.conversation + '"]');
      if (row) row.remove();
      if (frame.conversation === openConversation) location.assign("/inbox/" + Number(frame.into) + "/");
      return;
    }
    if (frame.row) upsertRow(frame.row);
    if (frame.conversation === openConversation) {
      if (frame.header) replaceHeader(frame.header);
      if (frame.entry) upsertEntry(frame.entry);
    }
  }

  // --- the socket --------------------------------------------------------------------------------
  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/agent/");
    socket.addEventListener("open", () => {
      attempts = 0;
      setConnection("live", "live");
      if (openConversation) send({ type: "subscribe", conversation: openConversation });
      send({ type: "resume", after: cursor });
      clearInterval(pingTimer);
      pingTimer = setInterval(() => send({ type: "ping" }), 25000);
    });
    socket.addEventListener("message", (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch { return; }
      if (message.type === "catchup") {
        message.frames.forEach(applyFrame);
        confirmed(message.upto);
      } else if (message.type === "pong") confirmed(message.upto);
      else if (message.type === "reload") location.reload();
      else if (message.type === "hello" || message.type === "error") return;
      else applyFrame(message);
    });
    socket.addEventListener("close", () => {
      clearInterval(pingTimer);
      setConnection("offline", "reconnecting…");
      const delay = Math.min(10000, 500 * 2 ** attempts) + Math.random() * 300;
      attempts += 1;
      setTimeout(connect, delay);
    });
  }

  // --- forms and paging --------------------------------------------------------------------------
  async function post(url, data) {
    const response = await fetch(url, {
      method: "POST",
      body: data,
      headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
      credentials: "same-origin",
    });
    let payload = {};
    try { payload = await response.json(); } catch { payload = { error: "The hub answered " + response.status + "." }; }
    return { ok: response.ok, payload };
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    if (form.id === "composer") {
      event.preventDefault();
      const error = $("composer-error");
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      error.textContent = "";
      try {
        const { ok, payload } = await post(form.action, new FormData(form));
        if (ok && payload.entry) {
          upsertEntry(payload.entry);
          form.querySelector("textarea").value = "";
          timeline.scrollTop = timeline.scrollHeight;
        } else {
          error.textContent = payload.error || "The message could not be sent.";
        }
      } catch {
        error.textContent = "The hub could not be reached; your text is still here.";
      } finally {
        button.disabled = false;
      }
    } else if (form.classList.contains("async")) {
      event.preventDefault();
      const data = new FormData(form);
      if (event.submitter && event.submitter.name) data.set(event.submitter.name, event.submitter.value);
      const { ok, payload } = await post(form.action, data);
      if (payload.entry) upsertEntry(payload.entry);
      if (ok && typeof payload.redirect === "string" && payload.redirect.startsWith("/inbox/")) location.assign(payload.redirect);
      if (!ok) window.alert(payload.error || "That did not work.");
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.id === "reply-body") {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });

  document.addEventListener("change", (event) => {
    if (event.target.name === "kind") {
      const note = event.target.value === "note" && event.target.checked;
      for (const id of ["reply-channel", "reply-inbox"]) {
        const el = $(id);
        if (el) el.closest("label").hidden = note;
      }
    }
  });

  document.addEventListener("click", async (event) => {
    const toggle = event.target.closest("[data-toggle]");
    if (toggle) {
      // Quoted history and the formatted (HTML) view of an email, one click away.
      const target = toggle.closest(".entry").querySelector(toggle.dataset.toggle);
      if (target) {
        target.hidden = !target.hidden;
        toggle.setAttribute("aria-expanded", String(!target.hidden));
      }
      return;
    }
    const older = event.target.closest(".load-older");
    if (older && timeline) {
      older.disabled = true;
      const response = await fetch(older.dataset.url, { credentials: "same-origin" });
      const fragment = fromHTML(await response.text());
      const previousHeight = timeline.scrollHeight;
      // Entries already on the page (a live update that raced the fetch) are not drawn twice.
      fragment.querySelectorAll(".entry").forEach((el) => { if (document.getElementById(el.id)) el.remove(); });
      localizeTimes(fragment);
      older.parentElement.replaceWith(fragment);
      timeline.scrollTop += timeline.scrollHeight - previousHeight;
    }
    const more = event.target.closest(".load-more-rows");
    if (more && list) {
      more.disabled = true;
      const params = new URLSearchParams({ view: filter.view, status: filter.status, after: more.dataset.after });
      if (body.dataset.inbox) params.set("inbox", body.dataset.inbox);
      const response = await fetch("/inbox/rows/?" + params, { credentials: "same-origin" });
      const fragment = fromHTML(await response.text());
      fragment.querySelectorAll(".conversation-row").forEach((el) => { if (document.getElementById(el.id)) el.remove(); });
      localizeTimes(fragment);
      more.closest("li").replaceWith(fragment);
    }
  });

  localizeTimes(document);
  if (openConversation) {
    const row = document.getElementById("conv-" + openConversation);
    if (row) row.classList.add("active");
  }
  if (timeline) timeline.scrollTop = timeline.scrollHeight;
  // A handle for people and tests debugging the live connection.
  window.hubRealtime = {
    get socket() { return socket; },
    get cursor() { return cursor; },
    ping() { send({ type: "ping" }); },
  };
  connect();
})();
