// CLS (class name -> served class name) is prepended by the server.
(function () {
  "use strict";
  var sel = function (name) { return "." + CLS[name]; };
  var toastTimer = null;

  function toast(message) {
    var el = document.querySelector(sel("toast"));
    if (!el) return;
    el.textContent = message;
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { el.hidden = true; }, 3000);
  }

  function postJSON(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body || {}),
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) { throw data; }
        return data;
      });
    });
  }

  // Feed: "not interested" menus and infinite scroll.
  var feed = document.querySelector(sel("feed"));
  if (feed) {
    feed.addEventListener("click", function (ev) {
      var more = ev.target.closest(sel("card-more"));
      var card = ev.target.closest(sel("card"));
      if (more && card) {
        var menu = card.querySelector(sel("card-menu"));
        menu.hidden = !menu.hidden;
        return;
      }
      var reasonBtn = ev.target.closest("[data-reason]");
      if (reasonBtn && card) {
        postJSON("/api/feedback", { item: card.dataset.id, reason: reasonBtn.dataset.reason })
          .then(function (data) { card.remove(); toast(data.message); })
          .catch(function (data) { toast((data && data.message) || ""); });
      }
    });
    var sentinel = document.querySelector(sel("feed-sentinel"));
    var loading = false;
    var done = false;
    var loadMore = function () {
      if (loading || done) return;
      loading = true;
      var page = parseInt(feed.dataset.next, 10);
      fetch("/feed/more?page=" + page, { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw r; return r.text(); })
        .then(function (html) {
          if (!html.trim()) { done = true; sentinel.textContent = sentinel.dataset.done || ""; return; }
          feed.insertAdjacentHTML("beforeend", html);
          feed.dataset.next = String(page + 1);
        })
        .catch(function () {})
        .then(function () { loading = false; });
    };
    if (sentinel && "IntersectionObserver" in window) {
      new IntersectionObserver(function (entries) {
        if (entries.some(function (e) { return e.isIntersecting; })) loadMore();
      }, { rootMargin: "200px" }).observe(sentinel);
    }
  }

  // Item page: like, and dwell time reported when the reader leaves.
  var article = document.querySelector(sel("article"));
  if (article) {
    var opened = Date.now();
    var sent = false;
    var report = function () {
      if (sent) return;
      sent = true;
      var body = JSON.stringify({ item: article.dataset.id, ms: Date.now() - opened });
      navigator.sendBeacon("/api/dwell", new Blob([body], { type: "application/json" }));
    };
    window.addEventListener("pagehide", report);
    document.addEventListener("visibilitychange", function () { if (document.visibilityState === "hidden") report(); });
    var like = article.querySelector(sel("like-btn"));
    if (like) {
      like.addEventListener("click", function () {
        postJSON("/api/like", { item: article.dataset.id }).then(function (data) {
          like.classList.toggle(CLS["liked"], data.liked);
          like.setAttribute("aria-pressed", data.liked ? "true" : "false");
          like.querySelector(sel("like-label")).textContent = data.label;
          like.querySelector(sel("like-count")).textContent = data.likes;
        }).catch(function () {});
      });
    }
  }

  // Coupons: claim without leaving the page.
  document.querySelectorAll(sel("claim-form")).forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var button = form.querySelector("button");
      postJSON(form.action, {}).then(function (data) {
        toast(data.message);
        var coupon = form.closest(sel("coupon"));
        coupon.querySelector(sel("coupon-stock")).textContent = data.stock_label;
        if (data.claimed) { button.disabled = true; button.textContent = data.button_label; }
      }).catch(function (data) { toast((data && data.message) || ""); });
    });
  });
})();
