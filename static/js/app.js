// AgencyHQ's small page helpers. Pages work without this file; it only enhances.
(function () {
  // Copy buttons: <button data-copy="#id"> copies the text of #id.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.value || source.textContent.trim()).then(function () {
      var label = button.textContent;
      button.textContent = button.getAttribute("data-copied") || "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    });
  });

  // A colour picker beside a text field (data-colour-for="id") writes its value there, as if typed.
  document.addEventListener("input", function (event) {
    var picker = event.target;
    if (!picker.getAttribute || !picker.getAttribute("data-colour-for")) return;
    var field = document.getElementById(picker.getAttribute("data-colour-for"));
    if (!field) return;
    field.value = picker.value;
    field.dispatchEvent(new Event("input", { bubbles: true }));
  });

  // The Resold rows' ⋯ menus (issue 25): written once for the table (#row-menu-template), each row gets its
  // copy here, named after the row and pointing at the account's page; the first time one opens, its items
  // come from the account's URL + "/menu". Without JavaScript, the account's name leads to its page.
  function rowMenus(root) {
    var template = document.getElementById("row-menu-template");
    if (!template || !root.querySelectorAll) return;
    root.querySelectorAll("tr[data-account]").forEach(function (row) {
      var account = row.querySelector("td a[href]");
      if (!account || row.querySelector(".row-menu")) return;
      var menu = template.content.firstElementChild.cloneNode(true);
      var summary = menu.querySelector("summary");
      summary.setAttribute("aria-label", summary.getAttribute("aria-label") + " " + row.getAttribute("data-account"));
      menu.querySelector(".row-menu-items a").setAttribute("href", account.getAttribute("href"));
      menu.setAttribute("data-menu", account.getAttribute("href") + "/menu");
      var cell = row.lastElementChild;
      if (cell.firstChild) cell.appendChild(document.createTextNode(" "));
      cell.appendChild(menu);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { rowMenus(document); });
  document.addEventListener("htmx:load", function (event) { rowMenus(event.target.parentNode || event.target); });
  document.addEventListener("toggle", function (event) {
    var menu = event.target;
    if (!window.htmx || !menu.matches || !menu.matches("details.row-menu[data-menu]") || !menu.open) return;
    if (menu.hasAttribute("data-menu-loading") || menu.querySelector("[data-loaded]")) return;
    menu.setAttribute("data-menu-loading", "");
    htmx.ajax("GET", menu.getAttribute("data-menu"), { target: menu.querySelector(".row-menu-items"), swap: "outerHTML" })
      .then(function () { menu.removeAttribute("data-menu-loading"); },
            function () { menu.removeAttribute("data-menu-loading"); });
  }, true);

  // Branding previews take their colour from data-brand (the pages' policy allows no inline style;
  // setting it from a script is allowed).
  function paintBrands(root) {
    (root.querySelectorAll ? root : document).querySelectorAll("[data-brand]").forEach(function (el) {
      if (/^#[0-9a-fA-F]{6}$/.test(el.getAttribute("data-brand"))) el.style.setProperty("--brand", el.getAttribute("data-brand"));
    });
  }
  document.addEventListener("DOMContentLoaded", function () { paintBrands(document); });

  // Keyboard and screen-reader users after an htmx swap. (1) Focus: when the focused element was swapped
  // away, focus goes to its counterpart in the new content (same data-focus-key, id, or name and value),
  // else to the swapped region's message, heading or first result, never left on <body>; content marked
  // data-focus-on-arrival (a finished progress bar's result) takes focus when nothing else holds it.
  // (2) Announcements: one polite live region (#live-announcer, aria-live without a role, so that it is
  // not one more "status" on the page) reads out the text of [data-announce] elements in the new
  // content when it changed, for content replaced while a person reads it (a live region that is itself
  // replaced is not announced reliably); flash messages swapped in are read out by themselves.
  var announcer = null, focusBefore = null;
  function ensureAnnouncer() {
    if (announcer || !document.body) return announcer;
    announcer = document.getElementById("live-announcer");
    if (!announcer) {
      announcer = document.createElement("div");
      announcer.id = "live-announcer";
      announcer.className = "visually-hidden";
      announcer.setAttribute("aria-live", "polite");
      announcer.setAttribute("aria-atomic", "true");
      document.body.appendChild(announcer);
    }
    return announcer;
  }
  var announcedFor = {};
  function announce(text, where) {
    text = (text || "").replace(/\s+/g, " ").trim();
    if (!text || !ensureAnnouncer()) return;
    if (where) {  // a region polled every second says the same thing once, not every second
      if (announcedFor[where] === text) return;
      announcedFor[where] = text;
    }
    announcer.textContent = "";
    clearTimeout(announce.clear);
    setTimeout(function () { announcer.textContent = text; }, 100);
    // Said once: emptied a little later, so that the page does not hold the text twice.
    announce.clear = setTimeout(function () { announcer.textContent = ""; }, 10000);
  }
  // A message (flash) that came in with the swap is a live region itself (role=status): it is read out
  // when its text changes after it is in the page, so its text is put back a moment after the swap.
  // A region polled every second brings the same message back each time: it is read out once.
  var flashesSaid = {};
  function reannounce(el, where) {
    var said = el.textContent.replace(/\s+/g, " ").trim();
    if (flashesSaid[where] === said) return;
    flashesSaid[where] = said;
    var html = el.innerHTML;
    el.innerHTML = "";
    setTimeout(function () { el.innerHTML = html; }, 100);
  }
  function focusable(el) {
    if (!el.matches("a[href], button, input, select, textarea, [tabindex]")) el.setAttribute("tabindex", "-1");
    return el;
  }
  function describe(el) {
    if (!el || el === document.body || el === document.documentElement) return null;
    return {key: el.getAttribute("data-focus-key"), id: el.id, name: el.getAttribute("name"), value: el.value,
            tag: el.tagName, node: el};
  }
  function counterpart(before) {
    if (!before) return null;
    var found = null;
    if (before.key) found = document.querySelector('[data-focus-key="' + CSS.escape(before.key) + '"]');
    if (!found && before.id) found = document.getElementById(before.id);
    if (!found && before.name) {
      document.querySelectorAll(before.tag + '[name="' + CSS.escape(before.name) + '"]').forEach(function (el) {
        if (!found && (el.value === before.value || el.tagName !== "BUTTON")) found = el;
      });
    }
    return found && !found.disabled && found.offsetParent !== null ? found : null;
  }
  function landing(region) {
    return region.querySelector("[data-focus-on-arrival]") ||
      region.querySelector(".alert-danger, [role=alert], h1, h2, h3, h4, h5, h6, [data-announce], [role=status]") ||
      region.querySelector("a[href], button:not([disabled]), input:not([type=hidden]), select, textarea") || region;
  }
  function focusLost() {
    var active = document.activeElement;
    return !active || active === document.body || !document.documentElement.contains(active);
  }
  var swapTarget = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    focusBefore = describe(document.activeElement);
    swapTarget = event.detail.target && event.detail.target.id;
  });
  document.addEventListener("htmx:oobBeforeSwap", function () {
    if (!focusBefore) focusBefore = describe(document.activeElement);
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    var region = event.target && event.target.isConnected ? event.target
      : (swapTarget && document.getElementById(swapTarget)) || document.body;
    paintBrands(region.parentNode || document);
    // The focused element was swapped away (htmx may already have focused its namesake by id): a form
    // sent back with errors puts its error summary or first invalid field first.
    var replaced = focusBefore && !focusBefore.node.isConnected;
    var problem = replaced && region.querySelector(".alert-danger[role=alert], [aria-invalid=true]");
    if (problem) {
      focusable(problem).focus();
    } else if (focusLost()) {
      var next = counterpart(focusBefore) ||
        (focusBefore ? landing(region) : region.querySelector("[data-focus-on-arrival]"));
      if (next) focusable(next).focus();
    }
    focusBefore = null;
    var parts = [];
    region.querySelectorAll("[data-announce]").forEach(function (el) {
      if (el.offsetParent !== null) parts.push(el.textContent);
    });
    var where = region.id || swapTarget || "page";
    region.querySelectorAll(".alert[role=status]").forEach(function (el, i) { reannounce(el, where + "#" + i); });
    announce(parts.join(" "), where);
  });
  // An htmx answer that loads a whole page (HX-Refresh: a finished background job; HX-Redirect: a form
  // saved in place): on the page loaded, its result (data-focus-on-arrival) or else its message takes
  // the focus and is read out, as a swap would have done.
  var ARRIVAL = "agencyhq-focus-on-arrival";
  document.addEventListener("htmx:beforeOnLoad", function (event) {
    var xhr = event.detail.xhr;
    if (!xhr) return;
    var redirect = xhr.getResponseHeader("HX-Redirect");
    if (redirect || xhr.getResponseHeader("HX-Refresh") === "true") {
      try { sessionStorage.setItem(ARRIVAL, redirect ? new URL(redirect, location.href).pathname : location.pathname); }
      catch (e) { /* no storage: the page loads as usual */ }
    }
  });
  document.addEventListener("DOMContentLoaded", function () {
    ensureAnnouncer();
    var arrived = null;
    try { arrived = sessionStorage.getItem(ARRIVAL); sessionStorage.removeItem(ARRIVAL); } catch (e) { /* none */ }
    var result = arrived === location.pathname &&
      (document.querySelector("[data-focus-on-arrival]") || document.querySelector("main .alert[role=status], main .alert[role=alert]"));
    if (result) {
      focusable(result).focus();  // read out as it takes the focus; a result that is no message is also announced
      if (!result.matches("[role=status], [role=alert]")) setTimeout(function () { announce(result.textContent); }, 400);
      return;
    }
    // A form sent back with errors: focus its error summary, or else its first invalid field.
    var problem = document.querySelector("main form .alert-danger[role=alert], main form [aria-invalid=true]");
    if (problem && !document.querySelector("[autofocus]")) focusable(problem).focus();
  });

  // A template's HTML field (data-live-preview="#button") shows its preview as you type: the button
  // posts the form into the preview frame.
  var previewTimers = new WeakMap();
  function showPreview(field) {
    var button = document.querySelector(field.getAttribute("data-live-preview"));
    if (button && field.form && field.form.requestSubmit) field.form.requestSubmit(button);
  }
  document.addEventListener("input", function (event) {
    var field = event.target;
    if (!field.getAttribute || !field.getAttribute("data-live-preview")) return;
    clearTimeout(previewTimers.get(field));
    previewTimers.set(field, setTimeout(function () { showPreview(field); }, 500));
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live-preview]").forEach(function (field) {
      if (field.value.trim()) showPreview(field);
    });
  });

  // <a data-back> goes back in the history when there is one (its href is the fallback).
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-back]");
    if (link && window.history.length > 1) { event.preventDefault(); window.history.back(); }
  });

  // <button data-print> opens the browser's print dialog.
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-print]")) window.print();
  });

  // Forms with data-confirm ask first (deleting, revoking); without JavaScript they just submit.
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  });
  // A background request that failed (htmx swaps nothing on an error): say so in #request-failed.
  function requestFailed(kind) {
    var box = document.getElementById("request-failed");
    if (!box) return;
    box.textContent = box.getAttribute("data-" + kind);
    box.hidden = false;
  }
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 500;
    requestFailed(status >= 500 ? "server" : "refused");
  });
  document.addEventListener("htmx:sendError", function () { requestFailed("network"); });
  document.addEventListener("htmx:beforeRequest", function () {
    var box = document.getElementById("request-failed");
    if (box) box.hidden = true;
  });
})();
