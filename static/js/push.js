/* The installable app: registers the service worker (/sw.js) on every page, and on the profile page lets
 * the agent turn Web Push on or off for this device. */
(function () {
  "use strict";
  if (!("serviceWorker" in navigator)) return;

  const ready = navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function (error) {
    console.warn("The service worker could not be registered:", error);
    return null;
  });

  // Logging out stops this device's notifications: the next person on it must not see the agent's pushes.
  // The top bar and the phone's menu each have a Log out form: every one of them does this.
  document.querySelectorAll('form[action="/accounts/logout/"]').forEach(function (logout) {
    logout.addEventListener("submit", function (event) {
      if (logout.dataset.pushChecked) return;
      event.preventDefault();
      logout.dataset.pushChecked = "1";
      let sent = false;
      const done = function () { if (!sent) { sent = true; logout.submit(); } };
      const timer = setTimeout(done, 3000);  // never keep an agent from logging out
      ready.then(function (registration) {
        return registration && registration.pushManager ? registration.pushManager.getSubscription() : null;
      }).then(function (subscription) {
        if (!subscription) return null;
        const endpoint = subscription.endpoint;
        return subscription.unsubscribe().then(function () {
          return fetch("/inbox/push/subscriptions/", {
            method: "DELETE",
            headers: { "Content-Type": "application/json", "X-CSRFToken": logout.querySelector("input[name=csrfmiddlewaretoken]").value },
            credentials: "same-origin",
            body: JSON.stringify({ endpoint: endpoint }),
          });
        });
      }).catch(function () { return null; }).then(function () { clearTimeout(timer); done(); });
    });
  });

  const enable = document.getElementById("push-enable");
  const disable = document.getElementById("push-disable");
  const status = document.getElementById("push-status");
  if (!enable || !disable) return;

  function say(text) { if (status) status.textContent = text; }

  function csrf() {
    const field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function keyBytes(base64url) {
    const padded = base64url.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((base64url.length + 3) % 4);
    const raw = atob(padded);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  function deviceName() {
    const ua = navigator.userAgent;
    const browser = /Edg\//.test(ua) ? "Edge" : /Firefox\//.test(ua) ? "Firefox" : /Chrome\//.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : "A browser";
    const system = /iPhone|iPad/.test(ua) ? "iOS" : /Android/.test(ua) ? "Android" : /Mac OS X/.test(ua) ? "macOS" : /Windows/.test(ua) ? "Windows" : /Linux/.test(ua) ? "Linux" : "";
    return system ? browser + " on " + system : browser;
  }

  function send(method, body) {
    return fetch("/inbox/push/subscriptions/", {
      method: method,
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      credentials: "same-origin",
      body: JSON.stringify(body),
    }).then(function (response) {
      if (!response.ok) return response.json().then(function (answer) { throw new Error(answer.error || response.status); });
      return response.json();
    });
  }

  function show(subscribed) {
    enable.hidden = subscribed;
    disable.hidden = !subscribed;
  }

  ready.then(function (registration) {
    if (!registration || !("PushManager" in window)) {
      say("This browser cannot receive notifications (on an iPhone, add the hub to the Home Screen first).");
      return;
    }
    return navigator.serviceWorker.ready.then(function (active) {
      return active.pushManager.getSubscription().then(function (existing) { show(Boolean(existing)); });
    });
  });

  enable.addEventListener("click", function () {
    say("Asking…");
    Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") throw new Error("notifications are blocked for this site in the browser's settings");
      return Promise.all([
        navigator.serviceWorker.ready,
        fetch("/inbox/push/key/", { credentials: "same-origin" }).then(function (r) { return r.json(); }),
      ]);
    }).then(function (both) {
      return both[0].pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(both[1].public_key) });
    }).then(function (subscription) {
      const body = subscription.toJSON();
      body.device = deviceName();
      return send("POST", body);
    }).then(function () {
      say("This device gets notifications.");
      window.location.reload();
    }).catch(function (error) {
      say("Not turned on: " + error.message);
    });
  });

  disable.addEventListener("click", function () {
    navigator.serviceWorker.ready.then(function (registration) {
      return registration.pushManager.getSubscription();
    }).then(function (subscription) {
      if (!subscription) return null;
      const endpoint = subscription.endpoint;
      return subscription.unsubscribe().then(function () { return send("DELETE", { endpoint: endpoint }); });
    }).then(function () {
      say("This device no longer gets notifications.");
      window.location.reload();
    }).catch(function (error) {
      say("Could not stop them: " + error.message);
    });
  });
})();
