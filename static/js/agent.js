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
    if (row.dataset.blocked === "1") return false; // a blocked sender is in no view
    if (filter.status !== "all" && row.dataset.status !== filter.status) return false;
    if (filter.view === "mine" && row.dataset.assignee !== me) return false;
    if (filter.view === "unassigned" && row.dataset.assignee !== "") return false;
    if (filter.view === "unanswered" && row.dataset.unanswered !== "1") return false;
    if (body.dataset.channel && row.dataset.channel !== body.dataset.channel) return false;
    if (body.dataset.team && row.dataset.team !== body.dataset.team) return false;
    return true;
  }

  // Every list frame may move a thread in or out of a view: the counts are read again, at most every 1.5 s.
  let countsTimer = null;
  function refreshCounts() {
    if (countsTimer || !list) return;
    countsTimer = setTimeout(async () => {
      countsTimer = null;
      try {
        const response = await fetch("/inbox/counts/?" + (body.dataset.listQuery || ""), { credentials: "same-origin" });
        if (!response.ok) return;
        const { counts } = await response.json();
        for (const [view, count] of Object.entries(counts)) {
          const el = document.querySelector('[data-view-count="' + view + '"]');
          if (el) el.textContent = count;
        }
      } catch { /* the next frame tries again */ }
    }, 1500);
  }

  function upsertRow(html) {
    if (!list) return;
    const row = fromHTML(html).querySelector(".conversation-row");
    if (!row) return;
    const existing = document.getElementById(row.id);
    if (existing && Number(existing.dataset.version) > Number(row.dataset.version)) return;
    const selected = existing && existing.querySelector(".row-select:checked");
    if (selected) row.querySelector(".row-select").checked = true;
    if (existing) existing.remove();
    if ((body.dataset.inbox || body.dataset.label) && !existing) {
      // Filtered by inbox or label: only rows already shown are updated; a reload shows newcomers.
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

  // The timeline stays pinned to the newest entry unless the agent scrolled up; then a pill counts
  // what arrived below and takes them down.
  let pinned = true;
  let unseen = 0;
  const pill = $("new-pill");
  function atBottom() {
    return timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 48;
  }
  function drawPill() {
    if (!pill) return;
    pill.hidden = unseen === 0;
    pill.textContent = unseen + " new";
  }
  function toBottom() {
    if (!timeline) return;
    timeline.scrollTop = timeline.scrollHeight;
    pinned = true;
    unseen = 0;
    drawPill();
  }
  if (timeline) {
    timeline.addEventListener("scroll", () => {
      pinned = atBottom();
      if (pinned && unseen) { unseen = 0; drawPill(); }
    }, { passive: true });
    // Images and a resized pane change the height without a scroll: a pinned timeline follows.
    timeline.addEventListener("load", () => { if (pinned) timeline.scrollTop = timeline.scrollHeight; }, true);
    if ("ResizeObserver" in window) {
      new ResizeObserver(() => { if (pinned) timeline.scrollTop = timeline.scrollHeight; }).observe(timeline);
    }
    if (pill) pill.addEventListener("click", () => {
      const reload = timeline.querySelector(".load-newer");
      toBottom();
      if (reload) reload.click();
    });
  }

  function upsertEntry(entry) {
    if (!timeline) return;
    const el = fromHTML(entry.html).querySelector(".entry");
    if (!el) return;
    const existing = document.getElementById("entry-" + entry.id);
    if (existing) {
      if (Number(existing.dataset.version) >= Number(entry.version)) return;
      existing.replaceWith(el);
      if (pinned) timeline.scrollTop = timeline.scrollHeight;
    } else {
      if (timeline.querySelector(".load-newer")) return;  // the newest part is not loaded; scrolling down loads it
      const [when, id] = sortKey(el);
      let before = null;
      const entries = timeline.querySelectorAll(".entry");
      for (let i = entries.length - 1; i >= 0; i--) {
        const [otherWhen, otherId] = sortKey(entries[i]);
        if (otherWhen < when || (otherWhen === when && otherId < id)) break;
        before = entries[i];
      }
      timeline.insertBefore(el, before);
      if (pinned) timeline.scrollTop = timeline.scrollHeight;
      else if (before === null) { unseen += 1; drawPill(); }
    }
    localizeTimes(el);
  }

  function replacePanel(html) {
    const panel = fromHTML(html).querySelector(".contact-panel");
    const existing = $("contact-panel");
    if (!panel || !existing) return;
    if (typeof window.hubPanelState === "function" && !window.hubPanelState()) panel.hidden = true;
    existing.replaceWith(panel);
    localizeTimes(panel);
  }

  async function refreshPanel() {
    if (!openConversation || !$("contact-panel")) return;
    const active = document.activeElement;
    if (active && $("contact-panel").contains(active) && active.matches("input, select")) return;  // mid-edit
    const response = await fetch("/inbox/" + openConversation + "/contact/", { credentials: "same-origin" });
    if (response.ok) replacePanel(await response.text());
  }

  function replaceHeader(html) {
    const header = fromHTML(html).querySelector(".thread-header");
    const existing = $("thread-header");
    if (!header || !existing) return;
    if (Number(existing.dataset.version) > Number(header.dataset.version)) return;
    // The header is drawn once for every agent watching; "Take it" is left out here on one's own thread.
    const assign = header.querySelector("form.assign");
    if (assign && assign.dataset.assignee && assign.dataset.assignee === document.body.dataset.user) {
      const take = assign.querySelector("button[value=me]");
      if (take) take.remove();
    }
    existing.replaceWith(header);
    localizeTimes(header);
    mountMenuPart(header);
  }

  // The header partial carries the thread's own actions (stage, snooze, take…); they live in the More
  // menu. A redraw replaces them there, except while the agent is filling one in.
  let pendingPart = null;
  function mountMenuPart(header) {
    const slot = $("thread-menu-live");
    const part = header && header.querySelector("[data-menu-part]");
    if (!slot || !part) return;
    const active = document.activeElement;
    if (active && slot.contains(active) && active.matches("input, select, textarea")) {
      pendingPart = part;
      part.remove();
      return;
    }
    pendingPart = null;
    let focusAgain = null;
    if (active && slot.contains(active)) {
      const form = active.closest("form");
      focusAgain = { action: form && form.getAttribute("action"), name: active.getAttribute("name"), value: active.getAttribute("value") };
    }
    slot.replaceChildren(part);
    localizeTimes(part);
    if (focusAgain) {
      const same = [...part.querySelectorAll("button, select, input")].find((el) => {
        const form = el.closest("form");
        return (form && form.getAttribute("action")) === focusAgain.action && el.getAttribute("name") === focusAgain.name && el.getAttribute("value") === focusAgain.value;
      });
      const fallback = part.querySelector("button, select");
      if (same || fallback) (same || fallback).focus();
    }
  }
  document.addEventListener("focusout", () => {
    if (!pendingPart) return;
    setTimeout(() => {
      const slot = $("thread-menu-live");
      if (!pendingPart || !slot || slot.contains(document.activeElement)) return;
      const part = pendingPart;
      pendingPart = null;
      slot.replaceChildren(part);
      localizeTimes(part);
    }, 0);
  });

  function confirmed(upto) {
    if (typeof upto === "number") cursor = Math.max(cursor, upto);
  }

  // A funnel leak on one of this agent's threads (or their team's): a notice that opens the thread.
  function showAlert(alert, conversation) {
    if (window.hubTray) { window.hubTray.add(alert, conversation); return; }
    let box = $("alerts");
    if (!box) {
      box = document.createElement("div");
      box.id = "alerts";
      box.className = "alerts";
      box.setAttribute("aria-live", "polite");
      document.body.appendChild(box);
    }
    const item = document.createElement("div");
    item.className = "alert";
    const title = document.createElement("strong");
    title.textContent = String(alert.title || "Needs attention");
    const text = document.createElement("p");
    text.textContent = String(alert.text || "");
    item.append(title, text);
    if (typeof alert.url === "string" && alert.url.startsWith("/inbox/")) {
      const link = document.createElement("a");
      link.href = alert.url;
      link.textContent = "Open the thread";
      item.append(link);
    }
    const close = document.createElement("button");
    close.type = "button";
    close.className = "link";
    close.textContent = "Dismiss";
    close.addEventListener("click", () => item.remove());
    item.append(close);
    box.appendChild(item);
  }

  // --- notifications (mentions) and the browser's own notifications while the tab is hidden ----------
  const seenNotifications = new Set();
  function setUnread(count) {
    const el = $("unread-count");
    if (!el || typeof count !== "number") return;
    el.dataset.count = String(count);
    el.textContent = String(count);
    el.hidden = count === 0;
  }

  function desktopNotify(title, text, url) {
    if (!document.hidden || !("Notification" in window) || Notification.permission !== "granted") return;
    const shown = new Notification(title, { body: text, tag: url });
    shown.onclick = () => { window.focus(); location.assign(url); };
  }

  function applyAgentFrame(frame) {
    const payload = frame.payload || {};
    if (frame.type === "notification.created") {
      if (seenNotifications.has(payload.id)) return;
      seenNotifications.add(payload.id);
      setUnread(payload.unread);
      desktopNotify("You were mentioned", payload.text || "", payload.url || "/inbox/notifications/");
    } else if (frame.type === "notification.read") setUnread(payload.unread);
  }

  function notifyNewMessage(frame) {
    if (frame.type !== "entry.created" || !frame.row || !document.hidden) return;
    const row = fromHTML(frame.row).querySelector(".conversation-row");
    if (!row || row.dataset.direction !== "inbound" || row.dataset.blocked === "1") return;
    const name = row.querySelector(".row-name");
    const preview = row.querySelector(".row-preview");
    desktopNotify("New message from " + (name ? name.textContent : "a customer"),
      preview ? preview.textContent : "", "/inbox/" + row.dataset.conversation + "/");
  }

  // --- collision warnings: who else views this thread, who types --------------------------------
  let presenceViewers = [];
  function renderPresence() {
    const el = $("presence");
    if (!el) return;
    const now = Date.now();
    const others = presenceViewers.filter((v) => String(v.user) !== me);
    el.replaceChildren();
    if (!others.length) { el.hidden = true; return; }
    others.forEach((viewer, i) => {
      if (i) el.append(", ");
      const span = document.createElement("span");
      span.className = "viewer";
      span.dataset.user = String(viewer.user);
      const typing = viewer.typing && viewer.typingUntil > now;
      if (typing) span.classList.add("typing");
      span.textContent = viewer.name + (typing ? (viewer.typing === "note" ? " is writing a note" : " is typing a reply") : " is viewing");
      el.append(span);
    });
    el.hidden = false;
  }

  function applyPresence(message) {
    if (message.conversation !== openConversation) return;
    const until = Date.now() + 6000; // a typist who goes quiet stops "typing" here too
    presenceViewers = (message.viewers || []).map((v) => ({ ...v, typingUntil: v.typing ? until : 0 }));
    renderPresence();
  }
  setInterval(renderPresence, 2000);

  let typingMode = null;
  let typingSentAt = 0;
  function typingNow(mode) {
    if (!openConversation) return;
    const now = Date.now();
    if (mode === typingMode && (!mode || now - typingSentAt < 2000)) return; // at most one ping per 2 s
    typingMode = mode;
    typingSentAt = now;
    send({ type: "typing", conversation: openConversation, mode });
  }

  function composerMode() {
    const checked = document.querySelector('#composer input[name=kind]:checked');
    return checked && checked.value === "note" ? "note" : "reply";
  }

  function applyFrame(frame) {
    if (frame.type === "leak.detected" && frame.alert) {
      showAlert(frame.alert, frame.conversation);
      return;
    }
    if (frame.type === "leak.plugged") {
      if (window.hubTray) window.hubTray.plug(frame.conversation, frame.alert && frame.alert.kind);
      return;
    }
    if (frame.conversation === null && frame.payload) { applyAgentFrame(frame); return; }
    notifyNewMessage(frame);
    if (frame.type === "contact.erased") {
      // The customer was erased: what was on the screen is gone from the hub, so it goes from the page too.
      if (frame.row) upsertRow(frame.row);
      if (frame.conversation === openConversation) location.reload();
      return;
    }
    if (frame.type === "conversation.merged" && frame.into) {
      // The customer was merged into another: their thread lives on there.
      const row = document.querySelector('.conversation-row[data-conversation="' + frame.conversation + '"]');
      if (row) row.remove();
      if (frame.conversation === openConversation) location.assign("/inbox/" + Number(frame.into) + "/");
      return;
    }
    if (frame.row) {
      upsertRow(frame.row);
      refreshCounts();
    }
    if (frame.conversation === openConversation) {
      if (frame.header) replaceHeader(frame.header);
      if (frame.entry) {
        upsertEntry(frame.entry);
        // Another agent edited the customer (or a new channel was used): the panel is drawn again.
        if (/data-event="contact\./.test(frame.entry.html)) refreshPanel();
      }
    }
  }

  // --- a long thread: pages load as the agent scrolls, and the page keeps at most MAX_ENTRIES -------
  const MAX_ENTRIES = 300;
  let paging = false;

  async function fetchPage(button) {
    button.disabled = true;
    const response = await fetch(button.dataset.url, { credentials: "same-origin" });
    const fragment = fromHTML(await response.text());
    // Entries already on the page (a live update that raced the fetch) are not drawn twice.
    fragment.querySelectorAll(".entry").forEach((el) => { if (document.getElementById(el.id)) el.remove(); });
    localizeTimes(fragment);
    return fragment;
  }

  function pageButton(kind, cursor) {
    const wrap = document.createElement("div");
    wrap.className = kind === "older" ? "older" : "newer";
    const button = document.createElement("button");
    button.type = "button";
    button.className = kind === "older" ? "load-older" : "load-newer";
    button.textContent = kind === "older" ? "Load older" : "Load newer";
    const param = kind === "older" ? "before" : "after";
    button.dataset.url = "/inbox/" + timeline.dataset.conversation + "/entries/?" + param + "=" + encodeURIComponent(cursor);
    wrap.appendChild(button);
    return wrap;
  }

  async function loadOlder(button) {
    const fragment = await fetchPage(button);
    const previousHeight = timeline.scrollHeight;
    button.parentElement.replaceWith(fragment);
    timeline.scrollTop += timeline.scrollHeight - previousHeight;
    // Far below the viewport now: the newest entries leave the page, and come back on scrolling down.
    const entries = timeline.querySelectorAll(".entry");
    const extra = entries.length - MAX_ENTRIES;
    if (extra > 0) {
      for (let i = entries.length - extra; i < entries.length; i++) entries[i].remove();
      timeline.querySelectorAll(".newer").forEach((el) => el.remove());
      timeline.appendChild(pageButton("newer", entries[entries.length - extra - 1].dataset.cursor));
    }
  }

  async function loadNewer(button) {
    const fragment = await fetchPage(button);
    button.parentElement.replaceWith(fragment);
    const entries = timeline.querySelectorAll(".entry");
    const extra = entries.length - MAX_ENTRIES;
    if (extra > 0) {
      const anchor = entries[extra];
      const top = anchor.getBoundingClientRect().top;
      for (let i = 0; i < extra; i++) entries[i].remove();
      timeline.querySelectorAll(".older").forEach((el) => el.remove());
      timeline.insertBefore(pageButton("older", anchor.dataset.cursor), timeline.firstChild);
      timeline.scrollTop += anchor.getBoundingClientRect().top - top;
    }
  }

  if (timeline) {
    timeline.addEventListener("scroll", async () => {
      if (paging) return;
      const older = timeline.querySelector(".load-older:not([disabled])");
      const newer = timeline.querySelector(".load-newer:not([disabled])");
      paging = true;
      try {
        if (older && timeline.scrollTop < 200) await loadOlder(older);
        else if (newer && nearBottom()) await loadNewer(newer);
      } finally {
        paging = false;
      }
    }, { passive: true });
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
      else if (message.type === "presence") applyPresence(message);
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
        const data = new FormData(form);
        if (data.get("send_later") !== "1") data.delete("send_at");  // "Send" sends now, whatever the field holds
        const later = $("send-at");
        if (later && data.get("send_at")) {
          // The agent's local time, sent with its offset, so it goes out when they meant.
          const when = new Date(later.value);
          data.set("send_at", Number.isNaN(when.getTime()) ? later.value : when.toISOString());
        }
        const { ok, payload } = await post(form.action, data);
        if (ok && payload.entry) {
          if (window.hubSendLater) window.hubSendLater.done(payload.scheduled_for);
          upsertEntry(payload.entry);
          form.querySelector("textarea").value = "";
          if (window.hubComposerFiles) window.hubComposerFiles.clear();
          typingNow(null);
          toBottom();
        } else {
          error.textContent = payload.error || "The message could not be sent.";
        }
      } catch {
        error.textContent = "The hub could not be reached; your text is still here.";
      } finally {
        button.disabled = false;
      }
    } else if (form.classList.contains("contact-edit")) {
      // The customer panel: saved inline, redrawn from the server's answer.
      event.preventDefault();
      const data = new FormData(form);
      if (event.submitter && event.submitter.name) data.set(event.submitter.name, event.submitter.value);
      const { ok, payload } = await post(form.action, data);
      if (ok && payload.panel) replacePanel(payload.panel);
      else {
        const error = $("contact-panel") && $("contact-panel").querySelector(".panel-error");
        if (error) error.textContent = payload.error || "That was not saved.";
        else window.alert(payload.error || "That was not saved.");
      }
    } else if (form.id === "save-view") {
      event.preventDefault();
      const { ok, payload } = await post(form.action, new FormData(form));
      if (ok) location.assign(payload.url);
      else $("save-view-error").textContent = payload.error || "The view was not saved.";
    } else if (form.classList.contains("async")) {
      event.preventDefault();
      if (event.submitter && event.submitter.dataset.confirm && !window.confirm(event.submitter.dataset.confirm)) return;
      const data = new FormData(form);
      if (event.submitter && event.submitter.name) data.set(event.submitter.name, event.submitter.value);
      const local = form.querySelector("[data-snooze-local]");
      if (local) {
        // The browser's local time, sent with its offset, so the hub wakes the thread when the agent meant.
        const when = new Date(local.value);
        data.set("snoozed_until", Number.isNaN(when.getTime()) ? local.value : when.toISOString());
      }
      const fromMenu = form.closest("#thread-menu") !== null;  // a live redraw may replace the form meanwhile
      const { ok, payload } = await post(form.action, data);
      if (ok && fromMenu && window.hubMenu) window.hubMenu.close();
      if (payload.entry) upsertEntry(payload.entry);
      if (ok && typeof payload.redirect === "string" && payload.redirect.startsWith("/inbox/")) location.assign(payload.redirect);
      if (!ok) window.alert(payload.error || "That did not work.");
    }
  });

  // --- keyboard shortcuts (shown on "?") -------------------------------------------------------
  function moveInList(step) {
    if (!list) return;
    const rows = Array.from(list.querySelectorAll(".conversation-row"));
    if (!rows.length) return;
    const current = rows.findIndex((row) => Number(row.dataset.conversation) === openConversation);
    const next = rows[Math.min(rows.length - 1, Math.max(0, current + step))] || rows[0];
    const link = next.querySelector("a");
    if (link && Number(next.dataset.conversation) !== openConversation) location.assign(link.getAttribute("href") + location.search);
  }

  function compose(kind) {
    const radio = document.querySelector('#composer input[name=kind][value="' + kind + '"]');
    if (!radio) return;
    radio.checked = true;
    radio.dispatchEvent(new Event("change", { bubbles: true }));
    $("reply-body").focus();
  }

  // The search box (built elsewhere) registers itself here or carries data-shortcut="search".
  window.hubShortcuts = window.hubShortcuts || {};
  function focusSearch() {
    if (typeof window.hubShortcuts.search === "function") return window.hubShortcuts.search();
    const box = document.querySelector('[data-shortcut="search"], input[type=search]');
    if (box) box.focus();
  }

  const shortcuts = {
    j: () => moveInList(1),
    k: () => moveInList(-1),
    r: () => compose("message"),
    n: () => compose("note"),
    a: () => {
      const select = $("assign-select");
      if (select && window.hubMenu) window.hubMenu.open(select);
      else if (select) select.focus();
    },
    e: () => { const button = $("resolve-button"); if (button) button.click(); },
    m: () => { if (window.hubMenu) window.hubMenu.open(); },
    "/": focusSearch,
    "?": () => { const dialog = $("shortcuts"); if (dialog && !dialog.open) dialog.showModal(); },
  };

  // --- canned responses: "/" and a shortcut in the composer opens a picker -------------------------
  let picker = null;
  let pickerItems = [];
  let pickerIndex = 0;
  let pickerStart = -1;
  let pickerSeq = 0;

  function slashQuery(textarea) {
    const upto = textarea.value.slice(0, textarea.selectionStart);
    const match = upto.match(/(?:^|\s)\/([\w-]{0,50})$/);
    return match ? { query: match[1], start: upto.length - match[1].length - 1 } : null;
  }

  async function updatePicker(textarea) {
    const found = slashQuery(textarea);
    if (!found || !openConversation) { closePicker(); return; }
    const seq = ++pickerSeq;
    const response = await fetch("/inbox/" + openConversation + "/canned/?q=" + encodeURIComponent(found.query), { credentials: "same-origin" });
    if (seq !== pickerSeq || !response.ok) return;
    const { results } = await response.json();
    if (!results.length) { closePicker(); return; }
    pickerStart = found.start;
    pickerItems = results;
    pickerIndex = 0;
    drawPicker(textarea);
  }

  function drawPicker(textarea) {
    if (!picker) {
      picker = document.createElement("ul");
      picker.id = "canned-picker";
      picker.className = "canned-picker";
      picker.setAttribute("role", "listbox");
      picker.setAttribute("aria-label", "Canned responses");
      picker.addEventListener("mousedown", (event) => {
        const li = event.target.closest("li");
        if (!li) return;
        event.preventDefault();
        pickerIndex = Number(li.dataset.index);
        insertCanned(textarea);
      });
      textarea.closest("form").appendChild(picker);
    }
    // Text only (textContent): a canned response is shown as written, never as HTML.
    picker.replaceChildren(...pickerItems.map((item, index) => {
      const li = document.createElement("li");
      li.setAttribute("role", "option");
      li.dataset.index = String(index);
      li.setAttribute("aria-selected", String(index === pickerIndex));
      const head = document.createElement("strong");
      head.textContent = "/" + item.shortcut + " · " + item.title;
      const text = document.createElement("span");
      text.className = "canned-text";
      text.textContent = item.text;
      li.append(head, text);
      return li;
    }));
    const selected = picker.querySelector("[aria-selected=true]");
    if (selected) selected.scrollIntoView({ block: "nearest" });
  }

  function closePicker() {
    pickerSeq += 1;
    if (picker) picker.remove();
    picker = null;
    pickerItems = [];
  }

  function insertCanned(textarea) {
    const item = pickerItems[pickerIndex];
    if (!item) return;
    const end = textarea.selectionStart;
    textarea.value = textarea.value.slice(0, pickerStart) + item.text + textarea.value.slice(end);
    const caret = pickerStart + item.text.length;
    closePicker();
    textarea.focus();
    textarea.setSelectionRange(caret, caret);
  }

  document.addEventListener("input", (event) => {
    if (event.target.id === "reply-body") updatePicker(event.target);
  });

  document.addEventListener("keydown", (event) => {
    if (picker && event.target.id === "reply-body") {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const step = event.key === "ArrowDown" ? 1 : -1;
        pickerIndex = (pickerIndex + step + pickerItems.length) % pickerItems.length;
        drawPicker(event.target);
        return;
      }
      if ((event.key === "Enter" && !event.ctrlKey && !event.metaKey) || event.key === "Tab") {
        event.preventDefault();
        insertCanned(event.target);
        return;
      }
      if (event.key === "Escape") {
        event.preventDefault();
        closePicker();
        return;
      }
    }
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.id === "reply-body") {
      event.preventDefault();
      $("composer").requestSubmit();
      return;
    }
    const target = event.target;
    const typing = target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
    if (typing) {
      if (event.key === "Escape") target.blur();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const action = shortcuts[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  });

  // Desktop notifications need the agent's permission, asked on their first gesture on the page.
  function askNotificationPermission() {
    if ("Notification" in window && Notification.permission === "default") Notification.requestPermission();
    document.removeEventListener("click", askNotificationPermission);
  }
  document.addEventListener("click", askNotificationPermission);

  document.addEventListener("input", (event) => {
    if (event.target.id === "reply-body") typingNow(event.target.value.trim() ? composerMode() : null);
  });
  document.addEventListener("focusout", (event) => {
    if (event.target.id === "reply-body") typingNow(null);
  });

  function snoozePreset(value) {
    const when = new Date();
    if (value === "1h" || value === "4h") when.setHours(when.getHours() + Number(value[0]));
    else {
      const days = value === "monday" ? ((8 - when.getDay()) % 7 || 7) : 1;
      when.setDate(when.getDate() + days);
      when.setHours(9, 0, 0, 0);
    }
    const pad = (n) => String(n).padStart(2, "0");
    return `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())}T${pad(when.getHours())}:${pad(when.getMinutes())}`;
  }

  // --- bulk actions on the selected rows ------------------------------------------------------------
  function selectedIds() {
    return [...document.querySelectorAll(".row-select:checked")].map((box) => box.value);
  }

  function showBulkBar() {
    const bar = $("bulk");
    if (!bar) return;
    const count = selectedIds().length;
    bar.hidden = count === 0;
    $("bulk-count").textContent = count + " selected";
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-bulk]");
    if (!button) return;
    const data = new FormData();
    selectedIds().forEach((id) => data.append("ids", id));
    data.set("action", button.dataset.bulk);
    const source = button.dataset.valueFrom ? $(button.dataset.valueFrom) : null;
    data.set("value", source ? source.value : (button.dataset.value || ""));
    const { ok, payload } = await post("/inbox/bulk/", data);
    const result = $("bulk-result");
    if (!ok) { result.textContent = payload.error || "That did not work."; return; }
    const refused = payload.refused.map((r) => "#" + r.id + ": " + r.reason).join("; ");
    result.textContent = payload.done.length + " done" + (refused ? "; refused " + refused : "");
    document.querySelectorAll(".row-select:checked").forEach((box) => {
      if (payload.done.includes(Number(box.value))) box.checked = false;
    });
    showBulkBar();
  });

  document.addEventListener("change", (event) => {
    if (event.target.matches("[data-snooze-preset]") && event.target.value) {
      const form = event.target.closest("form");
      form.querySelector("[data-snooze-local]").value = snoozePreset(event.target.value);
      form.requestSubmit();
      return;
    }
    if (event.target.classList && event.target.classList.contains("row-select")) showBulkBar();
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
    const deleteView = event.target.closest(".delete-view");
    if (deleteView) {
      const data = new FormData();
      data.set("delete", deleteView.dataset.view);
      const { ok } = await post("/inbox/views/", data);
      if (ok) deleteView.closest("li").remove();
      return;
    }
    const older = event.target.closest(".load-older");
    if (older && timeline) await loadOlder(older);
    const newer = event.target.closest(".load-newer");
    if (newer && timeline) await loadNewer(newer);
    const more = event.target.closest(".load-more-rows");
    if (more && list) {
      more.disabled = true;
      const params = new URLSearchParams(body.dataset.listQuery || "");
      params.set("after", more.dataset.after);
      const response = await fetch("/inbox/rows/?" + params, { credentials: "same-origin" });
      const fragment = fromHTML(await response.text());
      fragment.querySelectorAll(".conversation-row").forEach((el) => { if (document.getElementById(el.id)) el.remove(); });
      localizeTimes(fragment);
      more.closest("li").replaceWith(fragment);
    }
  });

  localizeTimes(document);
  mountMenuPart($("thread-header"));
  if (openConversation) {
    const row = document.getElementById("conv-" + openConversation);
    if (row) row.classList.add("active");
  }
  const focus = timeline && timeline.dataset.focusEntry ? $("entry-" + timeline.dataset.focusEntry) : null;
  if (focus) {
    // Opened at a search hit or a date: that entry, in the middle of the view.
    focus.classList.add("focused");
    focus.scrollIntoView({ block: "center" });
    pinned = atBottom();
  } else if (timeline) toBottom();
  // A handle for people and tests debugging the live connection.
  window.hubRealtime = {
    get socket() { return socket; },
    get cursor() { return cursor; },
    ping() { send({ type: "ping" }); },
  };
  connect();
})();
