/*! bundlebot chat widget — dependency-free. Add to any page:
 *
 *   <script src="https://YOUR-BUNDLEBOT/widget.js" data-key="pk_yourshop" async></script>
 *
 * data-key           the shop's PUBLIC widget key (a tenant id, not a secret)            (required)
 * data-api-base      where the bundlebot API lives (default: the origin of this script)
 * data-title         panel title (default "Bundle assistant")
 * data-shopper-token a short-lived token your backend signed for the logged-in shopper (optional;
 *                    or call window.Bundlebot.setShopperToken(token) later)
 * data-position      "right" (default) or "left"
 * data-open          "true" to open the panel on load
 * data-lang          "en", "fr" or "zh": the widget's own words (default: the browser's language; an answer
 *                    in another language switches them)
 *
 * "Add all to cart" dispatches on document:
 *   new CustomEvent("bundlebot:add-to-cart", {detail: {items: [{id, quantity, title, price}]}})
 * Each item has Like / Not for me / Remove buttons and the bundle Like / Not this bundle (plain <button>s:
 * Tab and Enter or Space reach and press them; aria-pressed says which verdict stands). With a shopper
 * token, a shown bundle (view), the verdicts and the cart addition go to /api/v1/events, and the shopper's
 * next turn reads them: a disliked item never comes back. Without one, a dislike still leaves this
 * conversation (it is added to the state's rejected items).
 * Everything the model or the catalog says is rendered with textContent, never as HTML.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.Bundlebot) { return; }
  var ds = script.dataset;
  var apiBase = (ds.apiBase || new URL(script.src, location.href).origin).replace(/\/+$/, "");
  var key = ds.key || "";
  var shopperToken = ds.shopperToken || null;
  var state = null;
  var bundle = null;
  var busy = false;
  var lastRequest = "";
  // The widget's own words in the shopper's language: data-lang, else the browser's, until an answer says
  // which language the conversation is in (the server detects it per turn).
  var STRINGS = {
    en: {launcher: "Need a gift bundle?", title: "Bundle assistant", close: "close",
         placeholder: "A tea party for six, about \u00a325", send: "Send", like: "Like", dislike: "Not for me",
         remove: "Remove", feedback: "Feedback on ", fromBundle: " from the bundle", bundleFeedback: "Feedback on the whole bundle",
         likeBundle: "Like this bundle", notBundle: "Not this bundle", total: "Total ", of: " of ", addAll: "Add all to cart",
         added: "Added \u2713", wrong: "Something went wrong.", busy: "Busy right now \u2014 trying again in ",
         seconds: " s\u2026", sorry: "Sorry \u2014 ", budget: "budget \u2264 ", each: "each \u2264 ", items: " items", people: " people",
         no: "no "},
    fr: {launcher: "Besoin d'un lot cadeau ?", title: "Assistant lots", close: "fermer",
         placeholder: "Un go\u00fbter pour six, environ 25 \u00a3", send: "Envoyer", like: "J'aime", dislike: "Pas pour moi",
         remove: "Retirer", feedback: "Avis sur ", fromBundle: " du lot", bundleFeedback: "Avis sur tout le lot",
         likeBundle: "J'aime ce lot", notBundle: "Pas ce lot", total: "Total ", of: " sur ", addAll: "Tout ajouter au panier",
         added: "Ajout\u00e9 \u2713", wrong: "Un probl\u00e8me est survenu.", busy: "Occup\u00e9 \u2014 nouvel essai dans ",
         seconds: " s\u2026", sorry: "D\u00e9sol\u00e9 \u2014 ", budget: "budget \u2264 ", each: "\u2264 ", eachAfter: " l'article", items: " articles",
         people: " personnes",
         no: "sans "},
    zh: {launcher: "\u9700\u8981\u793c\u7269\u7ec4\u5408\u5417\uff1f", title: "\u8d2d\u7269\u52a9\u624b", close: "\u5173\u95ed",
         placeholder: "\u516d\u4e2a\u4eba\u7684\u8336\u8bdd\u4f1a\uff0c\u9884\u7b9725\u82f1\u9551", send: "\u53d1\u9001",
         like: "\u559c\u6b22", dislike: "\u4e0d\u9002\u5408\u6211", remove: "\u79fb\u9664", feedback: "\u8bc4\u4ef7\uff1a",
         fromBundle: "", bundleFeedback: "\u8bc4\u4ef7\u6574\u4e2a\u7ec4\u5408", likeBundle: "\u559c\u6b22\u8fd9\u4e2a\u7ec4\u5408",
         notBundle: "\u4e0d\u8981\u8fd9\u4e2a\u7ec4\u5408", total: "\u5408\u8ba1 ", of: " / ",
         addAll: "\u5168\u90e8\u52a0\u5165\u8d2d\u7269\u8f66", added: "\u5df2\u52a0\u5165 \u2713",
         wrong: "\u51fa\u9519\u4e86\u3002", busy: "\u670d\u52a1\u7e41\u5fd9\uff0c\u7a0d\u540e\u91cd\u8bd5\uff1a",
         seconds: " \u79d2\u2026", sorry: "\u62b1\u6b49\uff1a", budget: "\u9884\u7b97 \u2264 ", each: "\u6bcf\u4ef6 \u2264 ", items: " \u4ef6",
         people: " \u4eba", no: "\u4e0d\u8981 "}
  };
  var lang = pickLang(ds.lang || (navigator.language || "en"));
  function pickLang(code) { code = String(code || "").slice(0, 2).toLowerCase(); return STRINGS[code] ? code : "en"; }
  function t(name) { return STRINGS[lang][name]; }

  var CSS = [
    ":host{all:initial;font:14px/1.4 system-ui,sans-serif;color:#111}",
    ".launcher{position:fixed;bottom:20px;" + (ds.position === "left" ? "left" : "right") + ":20px;",
    "background:#4f46e5;color:#fff;border:0;border-radius:999px;padding:12px 18px;cursor:pointer;",
    "box-shadow:0 4px 14px rgba(0,0,0,.2);z-index:2147483000}",
    ".panel{position:fixed;bottom:80px;" + (ds.position === "left" ? "left" : "right") + ":20px;",
    "width:360px;max-height:70vh;display:none;flex-direction:column;background:#fff;border-radius:12px;",
    "box-shadow:0 8px 30px rgba(0,0,0,.25);overflow:hidden;z-index:2147483000}",
    ".panel.open{display:flex}",
    ".head{background:#4f46e5;color:#fff;padding:10px 14px;font-weight:600;display:flex;justify-content:space-between}",
    ".head button{background:none;border:0;color:#fff;font-size:18px;cursor:pointer}",
    ".log{flex:1;overflow:auto;padding:10px;display:flex;flex-direction:column;gap:8px}",
    ".msg{padding:8px 10px;border-radius:10px;max-width:90%;white-space:pre-wrap}",
    ".user{align-self:flex-end;background:#e0e7ff}.bot{align-self:flex-start;background:#f3f4f6}",
    ".error{align-self:flex-start;background:#fee2e2;color:#991b1b}",
    ".note{align-self:flex-start;color:#6b7280;font-style:italic}",
    ".chips{display:flex;flex-wrap:wrap;gap:4px}.chip{background:#eef2ff;border-radius:999px;padding:1px 8px;font-size:12px}",
    ".cards{display:flex;flex-direction:column;gap:6px}",
    ".card{border:1px solid #e5e7eb;border-radius:8px;padding:6px 8px}",
    ".title{font-weight:600}.price{color:#065f46}.reason{font-size:12px;color:#555}",
    ".total{font-weight:600}.add{background:#059669;color:#fff;border:0;border-radius:8px;padding:8px;cursor:pointer}",
    ".acts{display:flex;gap:4px;margin-top:4px}.acts button{font:12px system-ui,sans-serif;border:1px solid #c7d2fe;",
    "background:#fff;border-radius:6px;padding:2px 8px;cursor:pointer}",
    ".acts button[aria-pressed=true]{background:#4f46e5;color:#fff}.card.disliked{opacity:.55}",
    "button:focus-visible{outline:3px solid #f59e0b;outline-offset:1px}",
    "form{display:flex;border-top:1px solid #e5e7eb}",
    "input{flex:1;border:0;padding:12px;font:inherit;outline:none}",
    "form button{border:0;background:#4f46e5;color:#fff;padding:0 14px;cursor:pointer}"
  ].join("");

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  var host = el("div");
  host.id = "bundlebot-widget";
  var root = host.attachShadow({mode: "open"});
  var style = el("style");
  style.textContent = CSS;
  var launcher = el("button", "launcher", t("launcher"));
  launcher.setAttribute("part", "launcher");
  var panel = el("div", "panel");
  var head = el("div", "head");
  var titleEl = el("span", "", ds.title || t("title"));
  head.appendChild(titleEl);
  var closeBtn = el("button", "", "\u00d7");
  closeBtn.setAttribute("aria-label", t("close"));
  head.appendChild(closeBtn);
  var log = el("div", "log");
  var form = el("form");
  var input = el("input");
  input.placeholder = t("placeholder");
  input.maxLength = 2000;
  var sendBtn = el("button", "", t("send"));
  sendBtn.type = "submit";
  form.appendChild(input);
  form.appendChild(sendBtn);
  panel.appendChild(head);
  panel.appendChild(log);
  panel.appendChild(form);
  root.appendChild(style);
  root.appendChild(launcher);
  root.appendChild(panel);

  function open() { panel.classList.add("open"); input.focus(); }
  function close() { panel.classList.remove("open"); }
  launcher.addEventListener("click", function () { panel.classList.contains("open") ? close() : open(); });
  closeBtn.addEventListener("click", close);

  function add(node) { log.appendChild(node); log.scrollTop = log.scrollHeight; return node; }

  function money(v, cur) {
    if (v === null || v === undefined) { return "n/a"; }
    try { return new Intl.NumberFormat(undefined, {style: "currency", currency: cur || "GBP"}).format(v); }
    catch (e) { return v.toFixed(2) + (cur ? " " + cur : ""); }
  }

  function renderChips(c) {
    var box = el("div", "chips");
    if (c.budget !== null && c.budget !== undefined) { box.appendChild(el("span", "chip", t("budget") + money(c.budget, c.currency))); }
    if (c.max_each !== null && c.max_each !== undefined) {
      box.appendChild(el("span", "chip", t("each") + money(c.max_each, c.currency) + (STRINGS[lang].eachAfter || "")));
    }
    if (c.size) { box.appendChild(el("span", "chip", c.size + t("items"))); }
    if (c.people) { box.appendChild(el("span", "chip", c.people + t("people"))); }
    if (c.occasion) { box.appendChild(el("span", "chip", c.occasion)); }
    (c.exclude || []).forEach(function (term) { box.appendChild(el("span", "chip", t("no") + term)); });
    if (box.childNodes.length) { add(box); }
  }

  function report(events) {
    // the shopper's own feedback; without a token there is no one to remember it for
    if (!shopperToken || !events.length) { return Promise.resolve(false); }
    var headers = {"Content-Type": "application/json"};
    if (key) { headers.Authorization = "Bearer " + key; }
    return fetch(apiBase + "/api/v1/events", {
      method: "POST", headers: headers, credentials: "omit",
      body: JSON.stringify({shopper_token: shopperToken, events: events})
    }).then(function (res) { return res.ok; }).catch(function () { return false; });
  }

  function verdict(kind, id, scope) {
    var ev = {kind: kind, item_id: id, scope: scope || "item"};
    if (lastRequest) { ev.request = lastRequest; }
    return ev;
  }

  function actButton(label, aria, onPress) {
    var btn = el("button", "", label);
    btn.type = "button";
    btn.setAttribute("aria-label", aria);
    btn.addEventListener("click", function () { onPress(btn); });
    return btn;
  }

  function press(btn, others) {
    others.forEach(function (o) { o.setAttribute("aria-pressed", "false"); });
    btn.setAttribute("aria-pressed", "true");
  }

  function rejectInState(id, rejected) {
    if (!state) { return; }
    var list = state.rejected || (state.rejected = []);
    var at = list.indexOf(id);
    if (rejected && at < 0) { list.push(id); } else if (!rejected && at >= 0) { list.splice(at, 1); }
  }

  function itemActions(card, line, index) {
    var acts = el("div", "acts");
    acts.setAttribute("role", "group");
    acts.setAttribute("aria-label", t("feedback") + line.title);
    var like, dislike;
    like = actButton(t("like"), t("like") + ": " + line.title, function (btn) {
      press(btn, [dislike]);
      card.classList.remove("disliked");
      rejectInState(line.id, false);
      report([verdict("like", line.id)]).then(function (ok) { card.dataset.reported = ok ? "like" : ""; });
    });
    dislike = actButton(t("dislike"), t("dislike") + ": " + line.title, function (btn) {
      press(btn, [like]);
      card.classList.add("disliked");
      rejectInState(line.id, true);
      report([verdict("dislike", line.id)]).then(function (ok) { card.dataset.reported = ok ? "dislike" : ""; });
    });
    like.className = "like";
    dislike.className = "dislike";
    like.setAttribute("aria-pressed", "false");
    dislike.setAttribute("aria-pressed", "false");
    var remove = actButton(t("remove"), t("remove") + " " + line.title + t("fromBundle"), function () {
      report([verdict("remove", line.id)]);
      send("remove #" + (index + 1));
    });
    remove.className = "remove";
    acts.appendChild(like);
    acts.appendChild(dislike);
    acts.appendChild(remove);
    return acts;
  }

  function bundleActions(b) {
    var acts = el("div", "acts");
    acts.setAttribute("role", "group");
    acts.setAttribute("aria-label", t("bundleFeedback"));
    var ids = (b.items || []).map(function (l) { return l.id; });
    var good, bad;
    good = actButton(t("likeBundle"), t("likeBundle"), function (btn) {
      press(btn, [bad]);
      report(ids.map(function (id) { return verdict("like", id, "bundle"); }));
    });
    bad = actButton(t("notBundle"), t("notBundle"), function (btn) {
      press(btn, [good]);
      report(ids.map(function (id) { return verdict("dislike", id, "bundle"); }));
    });
    good.className = "bundle-like";
    bad.className = "bundle-dislike";
    good.setAttribute("aria-pressed", "false");
    bad.setAttribute("aria-pressed", "false");
    acts.appendChild(good);
    acts.appendChild(bad);
    return acts;
  }

  function renderBundle(b) {
    bundle = b;
    var wrap = el("div", "cards");
    (b.items || []).forEach(function (line, index) {
      var card = el("div", "card");
      card.dataset.id = line.id;
      card.appendChild(el("div", "title", line.title));
      card.appendChild(el("div", "price", money(line.price, line.currency || b.currency) +
        (line.quantity > 1 ? " \u00d7 " + line.quantity : "")));
      if (line.reason) { card.appendChild(el("div", "reason", line.reason)); }
      card.appendChild(itemActions(card, line, index));
      wrap.appendChild(card);
    });
    var budget = b.constraints && b.constraints.budget;
    wrap.appendChild(el("div", "total", t("total") + money(b.total, b.currency) +
      (budget !== null && budget !== undefined ? t("of") + money(budget, b.currency) : "")));
    if (b.message) { wrap.appendChild(el("div", "reason", b.message)); }
    if ((b.items || []).length) {
      var addAll = el("button", "add", t("addAll"));
      addAll.type = "button";
      addAll.addEventListener("click", function () {
        var items = (b.items || []).map(function (l) {
          return {id: l.id, quantity: l.quantity || 1, title: l.title, price: l.price};
        });
        document.dispatchEvent(new CustomEvent("bundlebot:add-to-cart", {detail: {items: items}}));
        report(items.map(function (it) {
          var ev = verdict("cart", it.id);
          ev.quantity = it.quantity;
          return ev;
        }));
        addAll.textContent = t("added");
      });
      wrap.appendChild(bundleActions(b));
      wrap.appendChild(addAll);
      report((b.items || []).map(function (l) { return verdict("view", l.id); }));
    }
    add(wrap);
  }

  function parseFrames(buffer, onEvent) {
    var parts = buffer.split("\n\n");
    var rest = parts.pop();
    parts.forEach(function (frame) {
      var type = "message", data = [];
      frame.split("\n").forEach(function (line) {
        if (line.indexOf("event:") === 0) { type = line.slice(6).trim(); }
        else if (line.indexOf("data:") === 0) { data.push(line.slice(5).replace(/^ /, "")); }
      });
      if (data.length) { onEvent(type, JSON.parse(data.join("\n"))); }
    });
    return rest;
  }

  function handle(type, data, bot) {
    if (data.language && STRINGS[data.language] && data.language !== lang) { setLang(data.language); }
    if (type === "constraints") { renderChips(data.constraints || {}); }
    else if (type === "bundle") { renderBundle(data.result || {}); }
    else if (type === "token") { bot.textContent += data.text || ""; }
    else if (type === "done") {
      state = data.state || state;
      if (data.replaced || !bot.textContent) { bot.textContent = data.explanation || bot.textContent; }
      log.appendChild(bot);
    } else if (type === "error") { add(el("div", "msg error", data.message || t("wrong"))); }
  }

  function setLang(code) {
    lang = pickLang(code);
    launcher.textContent = t("launcher");
    if (!ds.title) { titleEl.textContent = t("title"); }
    closeBtn.setAttribute("aria-label", t("close"));
    input.placeholder = t("placeholder");
    sendBtn.textContent = t("send");
  }

  async function send(message) {
    if (busy || !message) { return; }
    busy = true;
    sendBtn.disabled = true;
    if (!/^(remove|swap) #\d+/.test(message)) { lastRequest = message.slice(0, 2000); }
    add(el("div", "msg user", message));
    var bot = el("div", "msg bot");
    try {
      var headers = {"Content-Type": "application/json", "Accept": "text/event-stream"};
      if (key) { headers.Authorization = "Bearer " + key; }
      var res, note = null;
      // A busy server answers 429 with the expected wait: come back then, a few times, telling the shopper.
      for (var attempt = 0; ; attempt++) {
        res = await fetch(apiBase + "/api/v1/turn/stream", {
          method: "POST", headers: headers, credentials: "omit",
          body: JSON.stringify({message: message, state: state, shopper_token: shopperToken})
        });
        var wait = parseInt(res.headers.get("Retry-After") || "", 10);
        if (res.status !== 429 || attempt >= 3 || !(wait > 0 && wait <= 60)) { break; }
        if (!note) { note = add(el("div", "msg note", "")); }
        note.textContent = t("busy") + wait + t("seconds");
        await new Promise(function (done) { setTimeout(done, wait * 1000); });
      }
      if (note) { note.remove(); }
      if (!res.ok || !res.body) {
        var err = await res.json().catch(function () { return {}; });
        throw new Error((err.error && err.error.message) || ("HTTP " + res.status));
      }
      var reader = res.body.getReader(), decoder = new TextDecoder(), buffer = "";
      add(bot);
      for (;;) {
        var chunk = await reader.read();
        if (chunk.done) { break; }
        buffer = parseFrames(buffer + decoder.decode(chunk.value, {stream: true}), function (t, d) { handle(t, d, bot); });
      }
    } catch (e) {
      add(el("div", "msg error", t("sorry") + e.message));
    } finally {
      busy = false;
      sendBtn.disabled = false;
    }
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    input.value = "";
    send(text);
  });

  window.Bundlebot = {
    open: open, close: close, send: send,
    setShopperToken: function (t) { shopperToken = t || null; },
    reset: function () { state = null; bundle = null; log.textContent = ""; },
    get bundle() { return bundle; }
  };
  function mount() { document.body.appendChild(host); if (ds.open === "true") { open(); } }
  if (document.body) { mount(); } else { document.addEventListener("DOMContentLoaded", mount); }
})();
