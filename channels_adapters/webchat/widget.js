/* The hub's web chat widget. Plain JavaScript, no framework, no build step.
   Embed: <script src="https://hub.example.com/widget.js" data-widget-key="KEY" async></script>
   Everything it draws lives in a shadow root, so the host page's CSS neither reaches it nor is touched.
   Visitor text is only ever set with textContent: HTML a visitor or an agent writes shows as text. */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-widget-key]");
  if (!script || window.__hubWebchat) return;
  window.__hubWebchat = true;
  var KEY = script.getAttribute("data-widget-key") || "";
  var HUB = new URL(script.src, location.href).origin;
  var WS = HUB.replace(/^http/, "ws") + "/ws/webchat/" + encodeURIComponent(KEY) + "/";
  var STORE = "hub-webchat:" + KEY;

  function load() { try { return JSON.parse(localStorage.getItem(STORE) || "{}"); } catch (e) { return {}; } }
  function save() { try { localStorage.setItem(STORE, JSON.stringify(state)); } catch (e) { /* private mode */ } }
  function uid() {
    var a = new Uint8Array(12); (window.crypto || window.msCrypto).getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  var state = load();           // {visitor: token, outbox: [{id, body}], open: bool}
  state.outbox = state.outbox || [];
  var ws = null, live = false, retry = 0, since = null, pinger = null, typingTimer = null, identifyQueue = [];
  var CHANNELS = {sms: "SMS", whatsapp: "WhatsApp", email: "email", voice: "phone"};  // web chat says nothing
  var shown = {};               // message id -> {v, el}
  var pending = {};             // client id -> element of a message not yet in the thread
  var inbox = {name: "", online: true};

  // --- the page ------------------------------------------------------------------------------
  // A tag of its own, shown whatever the host's stylesheet says of divs or of `*` (inline !important wins).
  var host = document.createElement("hub-webchat");
  host.style.setProperty("display", "block", "important");
  host.style.setProperty("visibility", "visible", "important");
  var root = host.attachShadow({mode: "open"});
  root.innerHTML =
    '<style>' +
    ':host{all:initial!important;display:block!important;visibility:visible!important}' +
    '*{box-sizing:border-box;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:15px;line-height:1.4}' +
    '.launcher{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;background:var(--c);color:#fff;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483000}' +
    '.launcher svg{width:28px;height:28px;fill:#fff;vertical-align:middle}' +
    '.panel{position:fixed;right:20px;bottom:88px;width:360px;max-width:calc(100vw - 40px);height:520px;max-height:calc(100vh - 120px);background:#fff;color:#111;border-radius:14px;box-shadow:0 8px 30px rgba(0,0,0,.25);display:flex;flex-direction:column;overflow:hidden;z-index:2147483000}' +
    '.panel[hidden]{display:none}' +
    'header{background:var(--c);color:#fff;padding:12px 14px;display:flex;align-items:center;gap:8px}' +
    'header h2{margin:0;font-size:16px;font-weight:600;flex:1}' +
    'header p{margin:0;font-size:12px}' +
    '.close{background:none;border:0;color:#fff;font-size:22px;cursor:pointer;padding:2px 8px}' +
    '.log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:6px;background:#f7f7f8}' +
    '.msg{max-width:80%;padding:8px 11px;border-radius:12px;white-space:pre-wrap;word-wrap:break-word;background:#fff;border:1px solid #e3e3e6;align-self:flex-start}' +
    '.msg.mine{align-self:flex-end;background:var(--c);color:#fff;border-color:transparent}' +
    '.meta{font-size:11px;color:#666;align-self:flex-start;margin:-2px 4px 4px}' +
    '.meta.mine{align-self:flex-end}' +
    '.note{font-size:13px;color:#444;text-align:center;padding:4px 8px}' +
    '.typing{font-size:12px;color:#555;padding:0 14px;min-height:18px}' +
    '.away{padding:10px 12px;background:#fff8e6;border-top:1px solid #f0e0b0;font-size:13px}' +
    '.away form{display:flex;gap:6px;margin-top:6px}' +
    '.away input{flex:1;padding:6px 8px;border:1px solid #bbb;border-radius:6px}' +
    '.error{color:#a00;font-size:13px;padding:0 12px;margin:4px 0}.error:empty{display:none}' +
    '.composer{display:flex;gap:6px;padding:10px;border-top:1px solid #e3e3e6;background:#fff}' +
    '.composer textarea{flex:1;resize:none;border:1px solid #bbb;border-radius:8px;padding:8px;height:44px;max-height:120px}' +
    '.attach{background:none;border:1px solid #bbb;border-radius:8px;width:36px;font-size:20px;cursor:pointer;color:#333}' +
    'button.send,.away button{background:var(--c);color:#fff;border:0;border-radius:8px;padding:0 14px;cursor:pointer}' +
    'button:focus-visible,textarea:focus-visible,input:focus-visible{outline:3px solid #ffbf47;outline-offset:1px}' +
    '.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}' +
    '@media (max-width:480px){.panel{right:0;bottom:0;width:100vw;max-width:100vw;height:100%;max-height:100%;border-radius:0}}' +
    '</style>' +
    '<button class="launcher" type="button" aria-expanded="false" aria-controls="hub-panel" aria-label="Open chat">' +
    '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"/></svg></button>' +
    '<section class="panel" id="hub-panel" role="dialog" aria-modal="false" aria-labelledby="hub-title" hidden>' +
    '<header><div style="flex:1"><h2 id="hub-title"></h2><p class="status"></p></div>' +
    '<button class="close" type="button" aria-label="Close chat">×</button></header>' +
    '<div class="log" role="log" aria-live="polite" aria-label="Messages"><p class="note greeting"></p></div>' +
    '<div class="typing" aria-live="polite"></div>' +
    '<div class="away" hidden><span class="away-text"></span>' +
    '<form class="email"><label class="sr" for="hub-email">Your email</label>' +
    '<input id="hub-email" type="email" required placeholder="you@example.com" autocomplete="email">' +
    '<button type="submit">Save</button></form></div>' +
    '<p class="error" role="alert"></p>' +
    '<form class="composer"><label class="sr" for="hub-body">Message</label>' +
    '<button class="attach" type="button" aria-label="Attach a file (image or PDF)">+</button>' +
    '<input class="file" type="file" hidden aria-hidden="true" tabindex="-1">' +
    '<textarea id="hub-body" placeholder="Write a message…" rows="1"></textarea>' +
    '<button class="send" type="submit">Send</button></form>' +
    '</section>';
  function $(sel) { return root.querySelector(sel); }
  var launcher = $(".launcher"), panel = $(".panel"), log = $(".log"), body = $("#hub-body");
  var errorBox = $(".error"), typingBox = $(".typing"), away = $(".away");
  host.style.setProperty("--c", "#2563eb");

  function setOpen(open, quiet) {
    state.open = open; save();
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", String(open));
    launcher.setAttribute("aria-label", (open ? "Close chat with " : "Open chat with ") + (inbox.name || "us"));
    if (quiet) return;  // restored on page load: never steal the host page's focus
    if (open) { body.focus(); log.scrollTop = log.scrollHeight; receipts(); } else { launcher.focus(); }
  }
  launcher.addEventListener("click", function () { setOpen(panel.hidden); });
  $(".close").addEventListener("click", function () { setOpen(false); });
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") setOpen(false); });
  body.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); submit(); }
  });
  $(".composer").addEventListener("submit", function (e) { e.preventDefault(); submit(); });
  var fileInput = $(".file");
  $(".attach").addEventListener("click", function () { fileInput.click(); });
  fileInput.addEventListener("change", function () {
    var file = fileInput.files && fileInput.files[0];
    fileInput.value = "";
    if (!file) return;
    if (inbox.upload_max && file.size > inbox.upload_max) {
      showError("The file is " + (file.size / 1048576).toFixed(1) + " MB; the limit is " + Math.round(inbox.upload_max / 1048576) + " MB.");
      return;
    }
    var form = new FormData();
    form.append("file", file);
    form.append("visitor", state.visitor || "");
    form.append("widget_key", KEY);
    showError("Sending " + file.name + "…");
    fetch(HUB + "/webchat/uploads/", {method: "POST", body: form})
      .then(function (r) { return r.json().then(function (j) { return {ok: r.ok, j: j}; }); })
      .then(function (res) {
        if (!res.ok) { showError(res.j.error || "The file could not be sent."); return; }
        showError("");
        var item = {id: uid(), body: body.value.trim(), files: [res.j.upload], names: [res.j.name]};
        body.value = "";
        state.outbox.push(item); save();
        pendingBubble(item);
        send({type: "message", id: item.id, body: item.body, files: item.files});
      })
      .catch(function () { showError("The file could not be sent; check your connection."); });
  });
  $(".email").addEventListener("submit", function (e) {
    e.preventDefault();
    send({type: "email", email: $("#hub-email").value});
  });

  // --- messages -------------------------------------------------------------------------------
  function withFiles(text, files) {
    return [text].concat((files || []).map(function (n) { return "📎 " + n; })).filter(Boolean).join("\n");
  }
  function bubble(text, mine) {
    var el = document.createElement("div");
    el.className = "msg" + (mine ? " mine" : "");
    el.textContent = text;
    var meta = document.createElement("div");
    meta.className = "meta" + (mine ? " mine" : "");
    log.appendChild(el); log.appendChild(meta);
    return el;
  }
  function metaOf(el) { return el.nextSibling; }
  function draw(m) {
    var known = shown[m.id];
    if (known && known.v >= m.v) return;
    var el = known ? known.el : (m.client_id && pending[m.client_id]) || null;
    var links = (m.links || []).filter(function (l) { return /^https?:\/\//.test(l.url); });
    var text = withFiles(m.body, links.length ? [] : m.files);
    if (!el) {
      el = bubble(text, m.mine);
    } else {
      el.textContent = text;
    }
    // An agent's files: links to signed URLs on the hub, opened in a new tab.
    links.forEach(function (l) {
      if (el.childNodes.length) el.appendChild(document.createElement("br"));
      var a = document.createElement("a");
      a.href = l.url; a.target = "_blank"; a.rel = "noopener noreferrer";
      a.textContent = "📎 " + l.name;
      a.style.color = "inherit";
      el.appendChild(a);
    });
    if (m.client_id) {
      // In the thread: no longer waiting here, nor to be sent again.
      delete pending[m.client_id];
      state.outbox = state.outbox.filter(function (o) { return o.id !== m.client_id; }); save();
    }
    el.setAttribute("data-id", m.id);
    shown[m.id] = {v: m.v, el: el, mine: m.mine, status: m.status};
    var via = CHANNELS[m.channel] ? " · by " + CHANNELS[m.channel] : "";
    metaOf(el).textContent = (m.mine ? (m.seen ? "Seen" : "Sent") : (m.name || "")) + via;
    if (!m.mine) typingBox.textContent = "";
    order();
    log.scrollTop = log.scrollHeight;
  }
  function order() {
    // The thread in id order, then what is still on its way (history, live frames and resends arrive in any order).
    var els = Array.prototype.slice.call(log.querySelectorAll(".msg"));
    var want = els.filter(function (el) { return el.hasAttribute("data-id"); })
      .sort(function (a, b) { return +a.getAttribute("data-id") - +b.getAttribute("data-id"); })
      .concat(els.filter(function (el) { return !el.hasAttribute("data-id"); }));
    for (var i = 0; i < want.length; i++) {
      if (els[i] !== want[i]) {
        want.forEach(function (el) { var meta = el.nextSibling; log.appendChild(el); log.appendChild(meta); });
        return;
      }
    }
  }
  function drawAll(list) { (list || []).forEach(draw); receipts(); }
  function receipts() {
    var unread = Object.keys(shown).filter(function (id) {
      var s = shown[id]; return !s.mine && s.status !== "read";
    }).map(Number);
    if (!unread.length || !live) return;
    var read = !panel.hidden && document.visibilityState === "visible";
    send({type: "seen", ids: unread, read: read});
    if (read) unread.forEach(function (id) { shown[id].status = "read"; });
  }
  document.addEventListener("visibilitychange", receipts);

  function submit() {
    var text = body.value.trim();
    if (!text) return;
    var max = inbox.max_chars || 5000;
    if (text.length > max) { showError("Your message is " + text.length + " characters; the limit is " + max + ". Send it in parts."); return; }
    var item = {id: uid(), body: text};
    state.outbox.push(item); save();
    body.value = "";
    showError("");
    pendingBubble(item);
    send({type: "message", id: item.id, body: item.body});
  }
  function pendingBubble(item) {
    if (pending[item.id]) return;
    var el = bubble(withFiles(item.body, item.names), true);
    metaOf(el).textContent = live ? "Sending…" : "Waiting for connection…";
    pending[item.id] = el;
  }
  function showError(text) { errorBox.textContent = text; }

  // --- the socket -----------------------------------------------------------------------------
  function send(frame) {
    if (ws && ws.readyState === 1 && live) { ws.send(JSON.stringify(frame)); return true; }
    if (frame.type === "identify") identifyQueue.push(frame);
    return false;
  }
  function page() { return {url: location.href, title: document.title, referrer: document.referrer}; }
  function connect() {
    try { ws = new WebSocket(WS); } catch (e) { return later(); }
    var opened = false;
    ws.onopen = function () { opened = true; ws.send(JSON.stringify({type: "hello", visitor: state.visitor || null, page: page()})); };
    ws.onmessage = function (e) {
      var f; try { f = JSON.parse(e.data); } catch (err) { return; }
      handle(f);
    };
    ws.onclose = function () {
      live = false; clearInterval(pinger);
      if (opened || checked) return later();
      // Refused before it opened: ask once whether this page may use the chat at all, so the visitor reads
      // why rather than an empty panel (a network failure still just retries).
      checked = true;
      fetch(HUB + "/webchat/available/?key=" + encodeURIComponent(KEY), {credentials: "omit"})
        .then(function (r) { return r.json(); })
        .then(function (answer) { if (answer.available === false) refused(answer.message); else later(); })
        .catch(later);
    };
  }
  var checked = false;
  function refused(message) {
    var text = message || "Chat is not available on this page.";
    showError(text);
    $(".greeting").textContent = "";
    $(".composer").style.display = "none"; away.hidden = true;
  }
  function later() { retry = Math.min(retry + 1, 6); setTimeout(connect, 500 * Math.pow(2, retry - 1)); }
  function handle(f) {
    if (f.type === "welcome") {
      live = true; retry = 0; since = f.at;
      if (f.visitor) { state.visitor = f.visitor; save(); }
      status(f.inbox);
      // Bubbles for what is still in the outbox first, so the history finds (and settles) them.
      state.outbox.forEach(pendingBubble);
      drawAll(f.messages);
      // A message written while the socket was down (or whose ack was lost) goes again, under its own id:
      // the hub stores it once.
      state.outbox.forEach(function (item) {
        metaOf(pending[item.id]).textContent = "Sending…";
        ws.send(JSON.stringify({type: "message", id: item.id, body: item.body, files: item.files}));
      });
      identifyQueue.splice(0).forEach(send);
      clearInterval(pinger);
      pinger = setInterval(function () { send({type: "ping", since: since}); }, 25000);
    } else if (f.type === "message") {
      draw(f.message); receipts();
    } else if (f.type === "history" || f.type === "pong") {
      if (f.at) since = f.at;
      if (f.inbox) status(f.inbox);
      drawAll(f.messages);
    } else if (f.type === "ack") {
      if (pending[f.id]) metaOf(pending[f.id]).textContent = "Sent";
    } else if (f.type === "error") {
      showError(f.message || "Something went wrong.");
      if (f.id && pending[f.id] && f.code !== "rate_limited") {
        // Refused for good (too long, empty): the visitor keeps the text to fix it.
        body.value = state.outbox.filter(function (o) { return o.id === f.id; }).map(function (o) { return o.body; })[0] || body.value;
        var el = pending[f.id]; el.parentNode.removeChild(el.nextSibling); el.parentNode.removeChild(el);
        delete pending[f.id];
        state.outbox = state.outbox.filter(function (o) { return o.id !== f.id; }); save();
      } else if (f.id && pending[f.id]) {
        metaOf(pending[f.id]).textContent = "Not sent yet: waiting to retry";
        setTimeout(function () {
          state.outbox.forEach(function (o) { if (o.id === f.id) send({type: "message", id: o.id, body: o.body, files: o.files}); });
        }, 1000 * (f.retry_after || 10));
      }
    } else if (f.type === "typing") {
      typingBox.textContent = (f.name || "Someone") + " is typing…";
      clearTimeout(typingTimer);
      typingTimer = setTimeout(function () { typingBox.textContent = ""; }, 6000);
    } else if (f.type === "reload") {
      send({type: "ping", since: "2000-01-01T00:00:00+00:00"});
    } else if (f.type === "email_saved") {
      $(".away-text").textContent = "Thanks! We'll answer at " + f.email + ".";
      $(".email").hidden = true;
    }
  }
  function status(s) {
    if (!s) return;
    inbox = s;
    host.style.setProperty("--c", /^#[0-9a-fA-F]{6}$/.test(s.color) ? s.color : "#2563eb");
    if (s.upload_types) fileInput.setAttribute("accept", s.upload_types.join(","));
    $("#hub-title").textContent = s.name;
    $(".status").textContent = s.online ? "We're online" : (s.open ? "Away" : "Closed now");
    $(".greeting").textContent = s.greeting || "";
    away.hidden = !!s.online;
    if (!s.online && !$(".email").hidden) $(".away-text").textContent = s.away || "";
    launcher.setAttribute("aria-label", (panel.hidden ? "Open chat with " : "Close chat with ") + s.name);
  }
  window.addEventListener("popstate", function () { send(Object.assign({type: "page"}, page())); });
  window.addEventListener("hashchange", function () { send(Object.assign({type: "page"}, page())); });

  // --- the host site's API: Hub.identify({email, name, user_id, user_hash}), Hub.reset() (on logout: this
  // browser becomes a new anonymous visitor), Hub.open(), Hub.close() ------------------------------------
  var queued = (window.Hub && window.Hub.q) || [];
  window.Hub = {
    identify: function (claims) {
      var c = claims || {};
      send({type: "identify", email: c.email || "", name: c.name || "", user_id: c.user_id || "", user_hash: c.user_hash || ""});
    },
    reset: function () {
      state = {outbox: [], open: false}; save();
      shown = {}; pending = {};
      Array.prototype.slice.call(log.querySelectorAll(".msg,.meta")).forEach(function (el) { el.parentNode.removeChild(el); });
      if (ws) ws.close();
    },
    open: function () { setOpen(true); },
    close: function () { setOpen(false); }
  };
  queued.forEach(function (call) { if (window.Hub[call[0]]) window.Hub[call[0]].apply(null, call.slice(1)); });

  function start() {
    document.body.appendChild(host);
    if (state.open) setOpen(true, true);
    connect();
  }
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
