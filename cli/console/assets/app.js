/* The office console's page: vanilla JS, no build step.
 *
 * Every view reads one JSON endpoint of the console (api.c) and builds
 * its DOM with textContent, never from HTML text: a record value cannot
 * become markup. The only markup taken from the server is the invite's QR
 * code, an SVG the server drew, parsed as SVG (not HTML).
 * Every API request carries the session's key (its CSRF token) in the
 * X-CSRF-Token header: the link's redirect hands it over in the address's
 * fragment, and the page moves it into this origin's storage at once. The
 * cookie alone opens no data: a browser sends it to every port of the
 * host, the storage is this origin's alone (docs/console.md). */
"use strict";
(function () {
  var lang = localStorage.getItem("veld.lang") || "nl";
  if (/^#key=[0-9a-f]{64}$/.test(location.hash)) {
    localStorage.setItem("veld.key", location.hash.slice(5));
    history.replaceState(null, "", location.pathname);
  }
  var csrf = localStorage.getItem("veld.key");
  var view = document.getElementById("view");

  function t(key) {
    var s = window.VELD_STRINGS;
    return (s[lang] && s[lang][key]) || (s.nl[key]) || key;
  }

  /* el("td", {class: "num"}, "text", child...) */
  function el(tag, attrs) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "on") Object.keys(attrs.on).forEach(function (ev) { e.addEventListener(ev, attrs.on[ev]); });
      else if (attrs[k] !== null && attrs[k] !== undefined) e.setAttribute(k, attrs[k]);
    });
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined) continue;
      e.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function text(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }

  function table(head, rows) {
    return el("table", null,
      el("thead", null, el.apply(null, ["tr", null].concat(head.map(function (h) { return el("th", null, h); })))),
      el.apply(null, ["tbody", null].concat(rows)));
  }

  function row(cells) {
    return el.apply(null, ["tr", null].concat(cells.map(function (c) {
      return c instanceof Node ? el("td", null, c) : el("td", null, text(c));
    })));
  }

  function request(method, path, body) {
    var opt = {method: method, credentials: "same-origin", headers: {"X-CSRF-Token": csrf || ""}};
    if (method === "POST") {
      opt.headers["Content-Type"] = "application/json";
      opt.body = JSON.stringify(body || {});
    }
    return fetch(path, opt).then(function (r) {
      return r.json().then(function (j) {
        if (!r.ok) throw new Error(j.error || String(r.status));
        return j;
      });
    });
  }
  function get(path) { return request("GET", path); }
  function post(path, body) { return request("POST", path, body); }

  function clear(title) {
    view.textContent = "";
    if (title) view.appendChild(el("h1", null, title));
  }
  function fail(e) { view.appendChild(el("p", {class: "error"}, t("error") + e.message)); }
  function say(where, cls, msg) { where.textContent = ""; where.appendChild(el("span", {class: cls}, msg)); }

  function clientLink(id, names) {
    var name = names && names[id] ? names[id] : "";
    return el("a", {href: "#client/" + encodeURIComponent(id)}, (name || "?") + " (" + String(id).slice(0, 8) + ")");
  }

  function q(params) {
    var parts = [];
    Object.keys(params).forEach(function (k) {
      if (params[k]) parts.push(encodeURIComponent(k) + "=" + encodeURIComponent(params[k]));
    });
    return parts.length ? "?" + parts.join("&") : "";
  }

  /* ---- signals ---------------------------------------------------------- */
  function viewSignals() {
    clear(t("signals_title"));
    return get("/api/signals").then(function (d) {
      if (!d.signals.length) { view.appendChild(el("p", null, t("signals_none"))); return; }
      view.appendChild(table([t("col_severity"), t("col_age"), t("col_client"), t("col_kind"),
        t("col_step"), t("col_owner"), t("col_team"), t("col_follow_up")],
        d.signals.map(function (s) {
          var r = row([el("span", {class: "sev-" + s.severity}, t("severity_" + s.severity)), s.age_days,
            clientLink(s.client, d.names), s.kind, s.step ? s.step + " (" + s.step_date + ")" : "",
            s.owner, s.team, s.follow_up]);
          r.setAttribute("data-severity", s.severity);
          r.setAttribute("data-signal", s.id);
          return r;
        })));
    });
  }

  /* ---- team list: due and caseload ----------------------------------------- */
  function viewDue(arg) {
    clear(t("due_title"));
    var params = new URLSearchParams(arg || "");
    var team = el("input", {name: "team", value: params.get("team") || "", required: "required"});
    var days = el("input", {name: "days", type: "number", min: "0", max: "366", value: params.get("days") || "14"});
    var form = el("form", {class: "filters"}, el("label", null, t("team"), team),
      el("label", null, t("days"), days), el("button", {type: "submit"}, t("show")));
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      location.hash = "#due/" + q({team: team.value, days: days.value}).slice(1);
    });
    view.appendChild(form);
    if (!params.get("team")) return Promise.resolve();
    var p = q({team: params.get("team"), days: params.get("days")});
    return get("/api/due" + p).then(function (d) {
      (d.by_worker || []).forEach(function (g) {
        view.appendChild(el("h2", null, (g.worker || t("no_contact_person")) + " — " + g.clients));
        view.appendChild(table([t("col_due"), t("col_client"), t("col_what"), t("col_record")],
          g.items.map(function (it) {
            return row([it.due + (it.overdue ? " (" + t("due_overdue") + ")" : ""),
              clientLink(it.client, d.names), it.kind, it.type !== "client" ? it.type : ""]);
          })));
      });
      return get("/api/caseload" + q({team: params.get("team")}));
    }).then(function (c) {
      view.appendChild(el("h2", null, t("caseload_title")));
      Object.keys(c.workers).sort().forEach(function (w) {
        view.appendChild(el("h2", null, (w || t("no_contact_person")) + " — " + c.workers[w].length));
        view.appendChild(table([t("col_client"), t("col_last_contact")], c.workers[w].map(function (cl) {
          var names = {}; names[cl.id] = cl.name;
          return row([clientLink(cl.id, names), cl.last_contact || "—"]);
        })));
      });
    });
  }

  /* ---- conflicts -------------------------------------------------------------- */
  function viewConflicts() {
    clear(t("conflicts_title"));
    var status = el("p", {id: "status"});
    view.appendChild(el("p", null, el("button", {type: "button", id: "sync", on: {click: function () {
      post("/api/sync").then(function () { say(status, "ok", t("synced")); route(); })
        .catch(function (e) { say(status, "error", t("error") + e.message); });
    }}}, t("sync_now"))));
    view.appendChild(status);
    return get("/api/conflicts").then(function (d) {
      if (!d.conflicts.length) { view.appendChild(el("p", {id: "no-conflicts"}, t("conflicts_none"))); return; }
      d.conflicts.forEach(function (c) {
        var box = el("section", {class: "conflict", "data-field": c.field, "data-id": c.id});
        box.appendChild(el("h2", null, c.type + " · " + t("field") + " " + c.field + " · ",
          clientLink(c.client, d.names)));
        var side = el("div", {class: "side"});
        c.values.forEach(function (v, i) {
          side.appendChild(el("div", {class: "card" + (i === 0 ? " winner" : "")},
            el("pre", null, text(v.value)),
            el("p", {class: "muted"}, String(v.device).slice(0, 8) + " #" + v.seq + " · " + v.at +
              (i === 0 ? " · " + t("winner") : "")),
            el("button", {type: "button", class: "keep", on: {click: function () {
              post("/api/conflicts/resolve", {type: c.type, id: c.id, field: c.field, value: v.value})
                .then(function (r) {
                  if (r.sync && r.sync.synced) say(status, "ok", t("resolved"));
                  else say(status, "error", t("resolved_unsynced") + (r.sync && r.sync.error));
                  return viewConflicts().then(function () {
                    view.querySelector("#status").replaceWith(status);
                  });
                }).catch(function (e) { say(status, "error", t("error") + e.message); });
            }}}, t("keep_this"))));
        });
        box.appendChild(side);
        view.appendChild(box);
      });
    });
  }

  /* ---- clients and one client ---------------------------------------------------- */
  function viewClients() {
    clear(t("clients_title"));
    return get("/api/clients").then(function (d) {
      view.appendChild(table([t("col_client"), t("col_team"), t("col_worker"), t("col_kind")],
        d.clients.map(function (c) {
          var names = {}; names[c.id] = c.name;
          return row([clientLink(c.id, names), c.team, c.contact_person, c.care_status]);
        })));
    });
  }

  function progressChart(p) {
    if (!p.domains || !p.domains.length) return el("p", {class: "muted"}, t("progress_none"));
    var times = [], index = {};
    p.domains.forEach(function (dm) {
      dm.series.forEach(function (s) {
        var x = Date.parse(s.at) / 1000;
        if (!(x in index)) { index[x] = true; times.push(x); }
      });
    });
    times.sort(function (a, b) { return a - b; });
    var data = [times], series = [{}];
    var colours = ["#2b6a4f", "#a33b20", "#1f5fa6", "#8a6d00", "#6b3fa0", "#00838f", "#c2185b",
      "#5d4037", "#37474f", "#689f38", "#ef6c00", "#303f9f", "#7b1fa2"];
    p.domains.forEach(function (dm, i) {
      var by = {};
      dm.series.forEach(function (s) { by[Date.parse(s.at) / 1000] = s.score; });
      data.push(times.map(function (x) { return x in by ? by[x] : null; }));
      series.push({label: dm.label || dm.code, stroke: colours[i % colours.length], width: 2,
        spanGaps: true, points: {show: true}});
    });
    var box = el("div", {class: "chart", id: "progress-chart"});
    /* uPlot draws into the element once it is in the document. */
    setTimeout(function () {
      new uPlot({width: Math.min(900, view.clientWidth - 20), height: 300, series: series,
        scales: {y: {range: [1, 5]}}, axes: [{}, {values: function (u, v) { return v; }}]}, data, box);
    }, 0);
    return box;
  }

  function recordsTable(kind, recs) {
    var fields = {};
    recs.forEach(function (r) {
      Object.keys(r).forEach(function (k) {
        if (["id", "type", "client", "team", "conflicts", "amended_by"].indexOf(k) < 0) fields[k] = true;
      });
    });
    var cols = Object.keys(fields);
    return table(cols, recs.map(function (r) {
      return row(cols.map(function (k) { return r[k]; }));
    }));
  }

  function viewClient(id) {
    clear(t("client_title"));
    var status = el("p");
    return get("/api/client?id=" + encodeURIComponent(id)).then(function (d) {
      var c = d.client;
      view.firstChild.textContent = t("client_title") + ": " + (c.name || "") + " (" + c.id.slice(0, 8) + ")";
      var info = {};
      Object.keys(c).forEach(function (k) { if (["id", "type"].indexOf(k) < 0) info[k] = c[k]; });
      view.appendChild(table([t("field"), ""], Object.keys(info).map(function (k) { return row([k, info[k]]); })));
      view.appendChild(el("p", null,
        el("button", {type: "button", id: "export", on: {click: function () {
          if (!confirm(t("confirm_export"))) { say(status, "muted", t("cancelled")); return; }
          post("/api/client/export", {client: c.id}).then(function (doc) {
            var a = el("a", {href: URL.createObjectURL(new Blob([JSON.stringify(doc, null, 2)],
              {type: "application/json"})), download: "export-" + c.id.slice(0, 8) + ".json"});
            document.body.appendChild(a); a.click(); a.remove();
            say(status, "ok", t("exported"));
          }).catch(function (e) { say(status, "error", t("error") + e.message); });
        }}}, t("export")), " ",
        el("button", {type: "button", id: "erase", on: {click: function () {
          var typed = prompt(t("confirm_erase") + "\n" + c.id);
          if (typed === null || typed.trim() === "") { say(status, "muted", t("cancelled")); return; }
          post("/api/client/erase", {client: c.id, confirm: typed.trim()}).then(function () {
            say(status, "ok", t("erased"));
          }).catch(function (e) { say(status, "error", t("error") + e.message); });
        }}}, t("erase"))));
      view.appendChild(status);
      view.appendChild(el("h2", null, t("progress_title")));
      view.appendChild(progressChart(d.progress));
      var first = ["woonkompas", "tenancy", "time_out", "signal", "visit", "note", "goal"];
      var kinds = Object.keys(d.records).sort(function (a, b) {
        var x = first.indexOf(a), y = first.indexOf(b);
        return (x < 0 ? 99 : x) - (y < 0 ? 99 : y) || (a < b ? -1 : 1);
      });
      kinds.forEach(function (k) {
        var recs = d.records[k];
        view.appendChild(el("h2", null, t("kind_" + k) !== "kind_" + k ? t("kind_" + k) : k));
        view.appendChild(recs.length ? recordsTable(k, recs) : el("p", {class: "muted"}, t("records_none")));
      });
    });
  }

  /* ---- access log -------------------------------------------------------------- */
  function viewLog(arg) {
    clear(t("log_title"));
    var params = new URLSearchParams(arg || "");
    var inputs = {};
    var form = el("form", {class: "filters"});
    [["client", t("col_client"), "text"], ["device", t("device"), "text"], ["user", t("user"), "text"],
     ["event", t("event"), "text"], ["from", t("from"), "date"], ["to", t("to"), "date"]].forEach(function (f) {
      inputs[f[0]] = el("input", {name: f[0], type: f[2], value: params.get(f[0]) || ""});
      form.appendChild(el("label", null, f[1], inputs[f[0]]));
    });
    form.appendChild(el("button", {type: "submit"}, t("show")));
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var p = {};
      Object.keys(inputs).forEach(function (k) { p[k] = inputs[k].value.trim(); });
      location.hash = "#log/" + q(p).slice(1);
    });
    view.appendChild(form);
    var p = {};
    params.forEach(function (v, k) { p[k] = v; });
    return get("/api/log" + q(p)).then(function (d) {
      if (!d.entries.length) { view.appendChild(el("p", null, t("log_none"))); return; }
      view.appendChild(table([t("col_at"), t("event"), t("col_outcome"), t("col_client"), t("user"),
        t("col_role"), t("device"), t("col_purpose")], d.entries.map(function (e) {
        return row([e.at, e.event, e.outcome, e.client ? String(e.client).slice(0, 8) : "", e.user,
          e.role, e.device ? String(e.device).slice(0, 8) : "", e.purpose]);
      })));
    });
  }

  /* ---- devices ------------------------------------------------------------------ */
  function viewDevices() {
    clear(t("devices_title"));
    var status = el("p");
    var team = el("input", {name: "team", required: "required"});
    var hours = el("input", {name: "ttl_hours", type: "number", min: "1", max: "168", value: "72"});
    var out = el("div", {id: "invite"});
    var form = el("form", {class: "filters"}, el("label", null, t("team"), team),
      el("label", null, t("ttl_hours"), hours), el("button", {type: "submit"}, t("invite")));
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      post("/api/devices/invite", {team: team.value.trim(), ttl_hours: parseInt(hours.value, 10)}).then(function (r) {
        out.textContent = "";
        var svg = new DOMParser().parseFromString(r.qr_svg, "image/svg+xml").documentElement;
        svg.setAttribute("class", "qr");
        out.appendChild(document.importNode(svg, true));
        out.appendChild(el("p", {class: "code"}, r.code));
        out.appendChild(el("p", {class: "muted"}, t("invite_hint")));
      }).catch(function (e) { say(status, "error", t("error") + e.message); });
    });
    view.appendChild(el("h2", null, t("invite_title")));
    view.appendChild(form);
    view.appendChild(out);
    view.appendChild(status);
    return get("/api/devices").then(function (d) {
      view.appendChild(el("h2", null, t("devices_title")));
      view.appendChild(table(["", t("col_team"), t("col_role"), t("col_label"), t("col_enrolled"),
        t("col_last_seen"), t("col_revoked"), ""], d.devices.map(function (dv) {
        var b = dv.revoked || dv.role === "office" ? "" : el("button", {type: "button", on: {click: function () {
          if (!confirm(t("confirm_revoke"))) return;
          post("/api/devices/revoke", {device: dv.device}).then(function () { route(); })
            .catch(function (e) { say(status, "error", t("error") + e.message); });
        }}}, t("revoke"));
        return row([String(dv.device).slice(0, 8), dv.team, dv.role, dv.label, dv.enrolled,
          dv.last_seen || "—", dv.revoked || "", b]);
      })));
      view.appendChild(el("h2", null, t("quarantine_title")));
      if (!d.quarantine.length) { view.appendChild(el("p", null, t("quarantine_none"))); return; }
      view.appendChild(table([t("col_at"), t("device"), t("col_kind"), t("col_field"), t("col_reason")],
        d.quarantine.map(function (x) {
          return row([x.at, String(x.device).slice(0, 8), x.kind || x.what, x.field, x.reason]);
        })));
    });
  }

  /* ---- dashboard: the partners' report, rendered generically ------------------------ */
  /* The report's JSON (docs/report.md): sections of indicators, each with
   * one cell per quarter. A cell is a number, "<5" (a small count), "x"
   * (hidden so a total does not reveal a small cell) or null (not shown).
   * Any indicator is drawn the same way, so a new one needs no change here. */
  function currentQuarter() {
    var d = new Date();
    return d.getUTCFullYear() + "Q" + (Math.floor(d.getUTCMonth() / 3) + 1);
  }

  function cellText(v, unit) {
    if (v === null || v === undefined) return "—";
    if (typeof v !== "number") return String(v);
    var s = v.toLocaleString(lang === "nl" ? "nl-NL" : "en-GB", {maximumFractionDigits: 1});
    return unit === "percent" ? s + " %" : unit === "euro" ? "€ " + s : s;
  }

  function label(x) { return x ? (x[lang] || x.nl || x.en || "") : ""; }

  function indicatorChart(ind, quarters) {
    var ys = ind.values.map(function (v) { return typeof v === "number" ? v : null; });
    if (!ys.some(function (v) { return v !== null; })) return null;
    var box = el("div", {class: "chart", "data-indicator": ind.id},
      el("p", {class: "title"}, label(ind.label) + (ind.group ? " · " + (ind.group_label ? label(ind.group_label) : ind.group) : "")));
    var xs = quarters.map(function (q, i) { return i; });
    var series = [{}, {label: label(ind.label), stroke: "#2b6a4f", width: 2, spanGaps: false,
      points: {show: true}}];
    if (typeof ind.target === "number") {
      series.push({label: t("target"), stroke: "#a33b20", dash: [4, 4], width: 1, points: {show: false}});
    }
    var data = [xs, ys];
    if (series.length > 2) data.push(xs.map(function () { return ind.target; }));
    setTimeout(function () {
      new uPlot({width: 260, height: 150, legend: {show: false}, series: series,
        scales: {x: {time: false}},
        axes: [{values: function (u, splits) { return splits.map(function (i) { return quarters[i] || ""; }); },
                incrs: [1]}, {size: 40}]}, data, box);
    }, 0);
    return box;
  }

  function viewDashboard(arg) {
    clear(t("dashboard_title"));
    var period = el("input", {name: "period", value: arg || currentQuarter(), pattern: "[0-9]{4}Q[1-4]", size: "7"});
    var form = el("form", {class: "filters"}, el("label", null, t("period"), period),
      el("button", {type: "submit"}, t("show")));
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      location.hash = "#dashboard/" + period.value.trim();
    });
    view.appendChild(form);
    return get("/api/report" + q({period: period.value.trim()})).then(function (rep) {
      rep.sections.forEach(function (sec) {
        var sect = el("section", {class: "report-section", "data-section": sec.id});
        sect.appendChild(el("h2", null, label(sec.title)));
        sect.appendChild(table([""].concat([t("target")], rep.quarters), sec.indicators.map(function (ind) {
          var tr = row([label(ind.label) + (ind.group ? " · " + (ind.group_label ? label(ind.group_label) : ind.group) : ""),
            typeof ind.target === "number" ? cellText(ind.target, ind.unit) : ""].concat(
            ind.values.map(function (v) { return cellText(v, ind.unit); })));
          Array.prototype.forEach.call(tr.children, function (td, i) {
            if (i > 0) td.className = "num";
            var v = ind.values[i - 2];
            if (v === "x") td.title = t("cell_hidden");
          });
          return tr;
        })));
        var charts = el("div", {class: "charts"});
        sec.indicators.forEach(function (ind) {
          var c = indicatorChart(ind, rep.quarters);
          if (c) charts.appendChild(c);
        });
        sect.appendChild(charts);
        view.appendChild(sect);
      });
    });
  }

  /* ---- frame -------------------------------------------------------------------------- */
  var views = {signals: viewSignals, due: viewDue, conflicts: viewConflicts, dashboard: viewDashboard,
    clients: viewClients, client: viewClient, log: viewLog, devices: viewDevices};
  var navOrder = ["signals", "due", "conflicts", "dashboard", "clients", "log", "devices"];

  function drawNav(current) {
    var nav = document.getElementById("nav");
    nav.textContent = "";
    navOrder.forEach(function (v) {
      nav.appendChild(el("a", {href: "#" + v, class: v === current ? "on" : null}, t("nav_" + v)));
    });
    document.getElementById("lang").textContent = t("lang_other");
    document.documentElement.lang = lang;
  }

  function route() {
    var h = location.hash.replace(/^#/, "") || "signals";
    var slash = h.indexOf("/");
    var name = slash < 0 ? h : h.slice(0, slash), arg = slash < 0 ? "" : decodeURIComponent(h.slice(slash + 1));
    if (!views[name]) name = "signals";
    drawNav(name === "client" ? "clients" : name);
    view.setAttribute("data-view", name);
    view.removeAttribute("data-ready");
    return views[name](arg).catch(fail).then(function () { view.setAttribute("data-ready", name); });
  }

  document.getElementById("lang").addEventListener("click", function () {
    lang = lang === "nl" ? "en" : "nl";
    localStorage.setItem("veld.lang", lang);
    route();
  });
  window.addEventListener("hashchange", route);
  get("/api/session").then(function (s) {
    document.getElementById("who").textContent = s.user + " · " + s.role;
    route();
  }).catch(function (e) { clear(); fail(e); });
})();
