// The keiba dashboard: every page's script. The token pasted into the login page is kept in
// this tab's sessionStorage and sent only as "Authorization: Bearer"; a 401 returns to login.
// Charts are drawn by uPlot (vendor/); times are shown in JST, money in integer yen.
"use strict";
(() => {
  const TOKEN = "keiba.token";
  const PAGE = document.body.dataset.page;
  const PARAMS = new URLSearchParams(location.search);
  const COLOURS = { model: "#1f77b4", market: "#9ca3af", combined: "#d62728", cash: "#14532d" };
  const JST = { timeZone: "Asia/Tokyo" };
  const hhmm = new Intl.DateTimeFormat("ja-JP", { ...JST, hour: "2-digit", minute: "2-digit" });
  const stamp = new Intl.DateTimeFormat("ja-JP", { ...JST, dateStyle: "short", timeStyle: "short" });
  const yenFmt = new Intl.NumberFormat("ja-JP");

  const $ = (selector) => document.querySelector(selector);
  const yen = (n) => (n === null || n === undefined ? "—" : `¥${yenFmt.format(n)}`);
  const pct = (p) => (p === null || p === undefined ? "—" : `${(100 * p).toFixed(1)}%`);
  const jst = (iso) => (iso ? stamp.format(new Date(iso)) : "—");
  const wait = (ms) => new Promise((done) => setTimeout(done, ms));

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (value !== null && value !== undefined && value !== false) {
        node.setAttribute(key, value === true ? "" : value);
      }
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function table(target, columns, rows) {
    const head = el("tr", {}, columns.map((c) => el("th", { class: c.num ? "num" : null }, c.label)));
    const body = rows.map((row) =>
      el("tr", {}, columns.map((c) => el("td", { class: c.num ? "num" : null }, c.value(row)))),
    );
    target.replaceChildren(el("thead", {}, head), el("tbody", {}, body));
  }

  function say(message) {
    $("#status").textContent = message;
  }

  // --- the token and the API ---------------------------------------------------------------------

  const token = () => sessionStorage.getItem(TOKEN);

  function toLogin() {
    sessionStorage.removeItem(TOKEN);
    const next = location.pathname + location.search;
    location.replace(`login.html?next=${encodeURIComponent(next)}`);
  }

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(path, options = {}) {
    const headers = { Authorization: `Bearer ${token()}` };
    const init = { method: options.method || "GET", headers, cache: "no-store" };
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    const answer = await fetch(path, init);
    if (answer.status === 401) {
      toLogin();
      throw new ApiError(401, "the token was refused");
    }
    const data = await answer.json().catch(() => ({}));
    if (!answer.ok) throw new ApiError(answer.status, data.error || answer.statusText);
    return data;
  }

  async function allPages(path, limit = 500) {
    const items = [];
    let offset = 0;
    while (offset !== null && offset !== undefined) {
      const sep = path.includes("?") ? "&" : "?";
      const page = await api(`${path}${sep}limit=${limit}&offset=${offset}`);
      items.push(...page.items);
      offset = page.next_offset;
    }
    return items;
  }

  function withDate(href) {
    const date = PARAMS.get("date");
    return date ? `${href}?date=${encodeURIComponent(date)}` : href;
  }

  // --- live race states: server-sent events read with fetch (it can send the header) -----------

  function parseFrame(frame) {
    let event = "message";
    const data = [];
    for (const line of frame.split("\n")) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    return data.length ? { event, data: JSON.parse(data.join("\n")) } : null;
  }

  async function readEvents(body, onEvent) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const found = parseFrame(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (found) onEvent(found.event, found.data);
      }
    }
  }

  async function live(date, onEvent) {
    const query = date ? `?date=${encodeURIComponent(date)}` : "";
    for (;;) {
      try {
        const headers = { Authorization: `Bearer ${token()}` };
        const answer = await fetch(`/events${query}`, { headers, cache: "no-store" });
        if (answer.status === 401) return toLogin();
        if (answer.ok) await readEvents(answer.body, onEvent);
      } catch (e) {
        // the connection dropped: open the next one after a pause
      }
      await wait(2000);
    }
  }

  // --- charts (uPlot) ----------------------------------------------------------------------------

  function chart(target, options, data) {
    target.replaceChildren();
    const width = () => Math.max(240, target.clientWidth);
    const plot = new uPlot({ width: width(), height: 260, ...options }, data, target);
    window.addEventListener("resize", () => plot.setSize({ width: width(), height: 260 }));
    return plot;
  }

  const tzDate = (ts) => uPlot.tzDate(new Date(ts * 1e3), "Asia/Tokyo");
  const markers = (label, colour) => ({
    label, stroke: colour, paths: () => null, points: { show: true, size: 9, fill: colour },
  });

  // --- operator controls -------------------------------------------------------------------------

  function actionForm(label, onSubmit, danger = false) {
    const reason = el("input", { name: "reason", required: true, maxlength: "500",
      placeholder: "reason", "aria-label": `${label}: reason` });
    const form = el("form", { class: "action" }, reason,
      el("button", { type: "submit", class: danger ? "danger" : null }, label));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await onSubmit(reason.value);
        reason.value = "";
        say("");
      } catch (e) {
        say(e.message);
      }
    });
    return form;
  }

  function showOperator(children) {
    const box = $("#operator");
    box.replaceChildren(el("h2", {}, "Operator"), ...children);
    box.hidden = false;
  }

  // --- today -------------------------------------------------------------------------------------

  // serving a replay, the countdown is counted on the replay's clock as the server last read
  // it (`replayNow`), which moves only as the replay runs; live, on the server's clock
  const today = { offset: 0, replayNow: null, day: null, names: {} };
  const hms = new Intl.DateTimeFormat("ja-JP", { ...JST, hour: "2-digit", minute: "2-digit", second: "2-digit" });

  function renderDayBar(day) {
    const bar = $("#day-bar");
    const parts = [el("b", {}, day.race_date)];
    if (!day.planned) parts.push(el("span", {}, day.error || "no race-day plan yet"));
    if (day.paused) {
      parts.push(el("span", { class: "paused", id: "paused" },
        `paused by ${day.paused_by}: ${day.pause_reason}`));
    } else if (day.planned) {
      parts.push(el("span", { id: "running" }, "running"));
    }
    if (day.replay && day.replay.clock) {
      parts.push(el("span", { class: "note" }, "replay clock ",
        el("time", { id: "replay-clock", datetime: day.replay.clock }, hms.format(new Date(day.replay.clock)))));
    } else {
      parts.push(el("span", { class: "note" }, day.replay ? "replay not started" : "live"));
    }
    bar.replaceChildren(...parts);
  }

  function timeLeft(iso) {
    const now = today.replayNow === null ? Date.now() + today.offset : today.replayNow;
    const ms = Date.parse(iso) - now;
    if (ms <= 0) return "closed";
    const m = Math.floor(ms / 60000);
    return m >= 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m} min ${Math.floor(ms / 1000) % 60} s`;
  }

  function renderTimeline(day) {
    const rows = day.races.map((r) => {
      const name = today.names[r.key];
      const title = [`${r.venue} ${r.race_no}R`, name ? ` ${name}` : ""];
      const link = r.key ? el("a", { href: `race.html?race=${r.key}` }, title) : el("span", {}, title);
      return el("li", { "data-race": r.race_id, "data-state": r.state },
        el("time", { datetime: r.post_time }, hhmm.format(new Date(r.post_time))),
        link,
        el("span", { class: "left", "data-closes": r.closes_at, title: "time left to the close" },
          timeLeft(r.closes_at)),
        el("span", { class: `badge ${r.state}`, title: r.reason || "" }, r.state));
    });
    $("#timeline").replaceChildren(...rows);
  }

  function onDay(event, day) {
    if (event !== "day") return;
    today.offset = Date.parse(day.now) - Date.now();
    today.replayNow = day.replay ? Date.parse(day.now) : null;
    today.day = day;
    renderDayBar(day);
    renderTimeline(day);
  }

  async function loadNames(date) {
    try {
      const races = await allPages(`/races?date=${date}`);
      for (const r of races) today.names[r.race_id] = r.race_name || "";
      if (today.day) renderTimeline(today.day);
    } catch (e) {
      // the warehouse may be held by the race day (503): the timeline goes on without names
    }
  }

  async function loadManual(date, operator) {
    let listed;
    try {
      listed = await api(`/manual/${date}/tickets`);
    } catch (e) {
      return;
    }
    const body = el("div", { class: "scroll" }, el("table"));
    table(body.firstChild, [
      { label: "race", value: (t) => t.race },
      { label: "pool", value: (t) => t.pool },
      { label: "selection", value: (t) => t.selection },
      { label: "stake", num: true, value: (t) => yen(t.stake_yen) },
      { label: "deadline (JST)", value: (t) => t.deadline_jst },
    ], listed.tickets);
    const parts = [body, el("p", {}, `total ${yen(listed.total_yen)}`)];
    if (operator) {
      parts.push(el("button", { type: "button", id: "approve", onclick: async () => {
        try {
          const done = await api(`/manual/${date}/approve`, { method: "POST", body: { sha256: listed.sha256 } });
          say("");
          $("#approve").replaceWith(el("p", {}, `approved by ${done.approved_by}`));
        } catch (e) {
          say(e.message);
        }
      } }, "Approve this list"));
    }
    $("#manual-body").replaceChildren(...parts);
    $("#manual").hidden = false;
  }

  function dayControls(date) {
    const act = (path) => async (reason) => {
      const plan = await api(`/days/${date}/${path}`, { method: "POST", body: { reason } });
      renderDayBar({ ...today.day, ...plan, race_date: date, planned: plan.planned });
    };
    showOperator([
      el("p", {}, "Pause: no decision is made until the day is resumed."),
      actionForm("Pause the day", act("pause"), true),
      actionForm("Resume the day", act("resume")),
    ]);
  }

  async function pageToday(me) {
    const first = new Promise((resolve) => {
      live(PARAMS.get("date"), (event, data) => {
        onDay(event, data);
        resolve(data.race_date);
      });
    });
    const date = await first;
    setInterval(() => {
      for (const cell of document.querySelectorAll("[data-closes]")) {
        cell.textContent = timeLeft(cell.dataset.closes);
      }
    }, 1000);
    const operator = me.role === "operator";
    if (operator) dayControls(date);
    await Promise.all([loadNames(date), loadManual(date, operator)]);
  }

  // --- a race ------------------------------------------------------------------------------------

  function raceHead(d) {
    const r = d.race;
    $("h1").textContent = `${r.venue} ${r.race_no}R ${r.race_name}`;
    document.title = `keiba — ${r.venue} ${r.race_no}R`;
    $("#race-head").replaceChildren(el("div", { class: "stats" },
      el("div", {}, "post (JST)", el("b", {}, hhmm.format(new Date(r.post_time)))),
      el("div", {}, "class", el("b", {}, r.race_class || "—")),
      el("div", {}, "decision", el("b", {}, r.decided ? "decided" : r.reason || "not decided")),
      el("div", {}, "staked", el("b", {}, yen(r.staked_yen))),
      el("div", {}, "odds as of", el("b", {}, r.odds_as_of ? jst(r.odds_as_of) : "—")),
      el("div", {}, "model", el("b", {}, d.model_version)),
    ), d.notes.length ? el("ul", {}, d.notes.map((n) => el("li", {}, n))) : null);
  }

  function raceChart(starters) {
    const xs = starters.map((s) => s.horse_no);
    chart($("#race-chart"), {
      scales: { x: { time: false, range: (u, lo, hi) => [lo - 1, hi + 1] } },
      axes: [{ label: "horse", values: (u, ticks) => ticks.map((t) => (Number.isInteger(t) ? t : "")) },
        { values: (u, ticks) => ticks.map((t) => `${Math.round(100 * t)}%`) }],
      series: [{ label: "horse" },
        { label: "market", stroke: COLOURS.market, fill: COLOURS.market,
          paths: uPlot.paths.bars({ size: [0.6, 40] }), points: { show: false } },
        markers("model", COLOURS.model),
        markers("combined", COLOURS.combined)],
    }, [xs, starters.map((s) => s.p_market), starters.map((s) => s.p_model),
      starters.map((s) => s.p_combined)]);
  }

  function raceTables(r) {
    table($("#starters"), [
      { label: "no", num: true, value: (s) => s.horse_no },
      { label: "horse", value: (s) => s.horse_name },
      { label: "odds", num: true, value: (s) => s.odds.toFixed(1) },
      { label: "model", num: true, value: (s) => pct(s.p_model) },
      { label: "market", num: true, value: (s) => pct(s.p_market) },
      { label: "combined", num: true, value: (s) => pct(s.p_combined) },
      { label: "EV", num: true, value: (s) => s.ev.toFixed(2) },
      { label: "stake", num: true, value: (s) => yen(s.stake_yen) },
      { label: "reason", value: (s) => s.reason || "bought" },
    ], r.starters);
    const box = $("#tickets");
    if (!r.tickets.length) {
      const rejected = Object.entries(r.rejected).map(([k, n]) => `${k}: ${n}`).join(", ");
      box.replaceChildren(el("p", {}, "No ticket.", rejected ? ` Not bought: ${rejected}.` : ""));
      return;
    }
    const t = el("table");
    table(t, [
      { label: "type", value: (x) => x.bet_type },
      { label: "combination", value: (x) => x.combination },
      { label: "stake", num: true, value: (x) => yen(x.stake_yen) },
      { label: "probability", num: true, value: (x) => pct(x.probability) },
      { label: "odds", num: true, value: (x) => x.odds.toFixed(1) },
      { label: "EV", num: true, value: (x) => x.expected_return.toFixed(2) },
      { label: "rule", value: (x) => x.rule },
    ], r.tickets);
    box.replaceChildren(el("div", { class: "scroll" }, t));
  }

  async function pageRace() {
    const id = PARAMS.get("race") || "";
    const at = PARAMS.get("at");
    const d = await api(`/races/${encodeURIComponent(id)}${at ? `?at=${encodeURIComponent(at)}` : ""}`);
    raceHead(d);
    raceChart(d.race.starters);
    raceTables(d.race);
  }

  // --- bankroll ----------------------------------------------------------------------------------

  async function ledgerEntries() {
    const found = [];
    let before = null;
    do {
      const page = await api(`/ledger/entries?limit=500${before ? `&before_seq=${before}` : ""}`);
      found.push(...page.items);
      before = page.next_before_seq;
    } while (before);
    return found.reverse();
  }

  async function pageBankroll() {
    const [balance, monitor, entries] = await Promise.all([api("/bankroll"), api("/monitor"), ledgerEntries()]);
    $("#balance").replaceChildren(
      el("div", {}, "cash", el("b", { id: "cash" }, yen(balance.cash_yen))),
      el("div", {}, "reserved", el("b", {}, yen(balance.reserved_yen))),
      el("div", {}, "available", el("b", {}, yen(balance.available_yen))),
    );
    $("#tier").replaceChildren(el("h2", {}, "Drawdown"), el("div", { class: "stats" },
      el("div", {}, "drawdown", el("b", {}, pct(monitor.drawdown))),
      el("div", {}, "peak", el("b", {}, yen(monitor.peak_yen))),
      el("div", {}, "tier", el("b", { id: "tier-name" }, monitor.tier || "none")),
      el("div", {}, "recorded tier", el("b", { id: "recorded-tier" }, monitor.recorded_tier || "none")),
      el("div", {}, "stake ×", el("b", {}, monitor.tier_stake_multiplier.toFixed(2))),
      el("div", {}, "buying", el("b", { id: "buying" }, monitor.stopped ? "stopped" : "on")),
    ));
    const xs = entries.map((e) => Date.parse(e.created_at) / 1000 + e.seq * 1e-3);
    chart($("#bankroll-chart"), {
      tzDate,
      axes: [{}, { size: 96, values: (u, ticks) => ticks.map((t) => yen(Math.round(t))) }],
      series: [{}, { label: "cash", stroke: COLOURS.cash, width: 2, stepped: true,
        points: { show: true, size: 6, fill: COLOURS.cash } }],
    }, [xs, entries.map((e) => e.cash_after_yen)]);
  }

  // --- bets --------------------------------------------------------------------------------------

  const BET_COLUMNS = ["ticket_id", "race_id", "bet_type", "combination", "stake_yen", "state",
    "placed_at", "settled_at", "payout_yen", "outcome"];

  function csvOf(rows) {
    const cell = (v) => {
      const s = v === null || v === undefined ? "" : String(v);
      return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
    };
    return [BET_COLUMNS.join(","), ...rows.map((r) => BET_COLUMNS.map((c) => cell(r[c])).join(","))]
      .join("\n") + "\n";
  }

  function fillOptions(select, values) {
    for (const v of [...new Set(values)].sort()) select.append(el("option", { value: v }, v));
  }

  async function pageBets() {
    const all = await allPages("/ledger/tickets");
    const form = $("#filters");
    fillOptions(form.elements.state, all.map((t) => t.state));
    fillOptions(form.elements.bet_type, all.map((t) => t.bet_type));
    const chosen = () => all.filter((t) =>
      (!form.elements.state.value || t.state === form.elements.state.value) &&
      (!form.elements.bet_type.value || t.bet_type === form.elements.bet_type.value) &&
      t.race_id.includes(form.elements.race.value.trim()));
    const render = () => {
      const rows = chosen();
      $("#count").textContent = `${rows.length} of ${all.length} bets`;
      table($("#bets"), [
        { label: "race", value: (t) => t.race_id },
        { label: "type", value: (t) => t.bet_type },
        { label: "combination", value: (t) => t.combination },
        { label: "stake", num: true, value: (t) => yen(t.stake_yen) },
        { label: "state", value: (t) => t.state },
        { label: "placed (JST)", value: (t) => jst(t.placed_at) },
        { label: "payout", num: true, value: (t) => yen(t.payout_yen) },
      ], rows);
    };
    form.addEventListener("input", render);
    $("#export").addEventListener("click", () => {
      const blob = new Blob([csvOf(chosen())], { type: "text/csv" });
      const link = el("a", { href: URL.createObjectURL(blob), download: "keiba-bets.csv" });
      link.click();
      URL.revokeObjectURL(link.href);
    });
    render();
  }

  // --- models ------------------------------------------------------------------------------------

  const DELTA = /^(.*_)?delta_r2_([a-z]+)$/;

  function trainedOn(periods) {
    if (!periods) return "—";
    const span = (from, to) => (from && to ? `${from} – ${to}` : null);
    const parts = [span(periods.train_from, periods.train_to),
      span(periods.combine_from, periods.combine_to) && `combined ${span(periods.combine_from, periods.combine_to)}`];
    return parts.filter(Boolean).join(", ") || JSON.stringify(periods);
  }

  async function pageModels() {
    const versions = await allPages("/models");
    const runs = (await Promise.all(versions.map(async (v) =>
      (await api(`/models/${encodeURIComponent(v.version)}/evaluations`)).map((r) => ({ ...r, version: v.version }))))).flat();
    const points = [];
    for (const run of runs) {
      for (const [name, value] of Object.entries(run.metrics)) {
        const m = DELTA.exec(name);
        if (m) points.push({ t: Date.parse(run.started_at) / 1000, series: m[2], value, version: run.version });
      }
    }
    points.sort((a, b) => a.t - b.t);
    const names = [...new Set(points.map((p) => p.series))].sort();
    const xs = [...new Set(points.map((p) => p.t))];
    const palette = [COLOURS.combined, COLOURS.model, COLOURS.market, COLOURS.cash];
    const day = 86400;
    chart($("#models-chart"), {
      tzDate,
      scales: { x: { range: (u, lo, hi) => (hi - lo < day ? [lo - day, hi + day] : [lo, hi]) } },
      series: [{}, ...names.map((n, i) => ({ label: `ΔR² ${n}`, stroke: palette[i % palette.length],
        width: 2, spanGaps: true, points: { show: true, size: 8, fill: palette[i % palette.length] } }))],
    }, [xs, ...names.map((n) => xs.map((x) => {
      const p = points.find((q) => q.t === x && q.series === n);
      return p ? p.value : null;
    }))]);
    table($("#models"), [
      { label: "version", value: (v) => `${v.version}${v.latest ? " (latest)" : ""}` },
      { label: "trained on", value: (v) => trainedOn(v.periods) },
      ...names.map((n) => ({ label: `ΔR² ${n}`, num: true, value: (v) => {
        const p = points.filter((q) => q.version === v.version && q.series === n).pop();
        return p ? p.value.toFixed(4) : "—";
      } })),
    ], versions);
  }

  // --- alerts ------------------------------------------------------------------------------------

  function renderMonitor(m) {
    $("#monitor").replaceChildren(el("h2", {}, "Monitor"), el("div", { class: "stats" },
      el("div", {}, "buying", el("b", { id: "buying" }, m.stopped ? "stopped" : "on")),
      el("div", {}, "tier", el("b", {}, m.tier || "none")),
      el("div", {}, "drawdown", el("b", {}, pct(m.drawdown))),
    ));
  }

  async function renderEvents() {
    table($("#events"), [
      { label: "seq", num: true, value: (e) => e.seq },
      { label: "kind", value: (e) => el("span", { class: `badge ${e.tier || e.kind}` }, e.kind) },
      { label: "recorded (JST)", value: (e) => jst(e.recorded_at) },
      { label: "detail", value: (e) => {
        const { seq, kind, recorded_at: _, ...rest } = e;
        return el("pre", {}, JSON.stringify(rest));
      } },
    ], await allPages("/monitor/events"));
  }

  async function pageAlerts(me) {
    const monitor = await api("/monitor");
    renderMonitor(monitor);
    await renderEvents();
    if (me.role === "operator" && monitor.stopped) {
      showOperator([el("p", {}, "Buying is stopped by the monitor."),
        actionForm("Resume buying", async (reason) => {
          await api("/monitor/resume", { method: "POST", body: { reason } });
          renderMonitor(await api("/monitor"));
          await renderEvents();
          $("#operator").hidden = true;
        })]);
    }
  }

  // --- login and start-up ------------------------------------------------------------------------

  function pageLogin() {
    $("#login").addEventListener("submit", async (event) => {
      event.preventDefault();
      const value = $("#token").value.trim();
      const answer = await fetch("/whoami", { headers: { Authorization: `Bearer ${value}` } });
      if (!answer.ok) {
        say(answer.status === 429 ? "Too many failed attempts: wait a minute." : "This token is refused.");
        return;
      }
      sessionStorage.setItem(TOKEN, value);
      const next = PARAMS.get("next") || "";
      location.replace(/^\/dashboard\/[\w.-]*(\?[\w=&%.:+-]*)?$/.test(next) ? next : "index.html");
    });
  }

  function replayBanner(replay) {
    const banner = el("p", { id: "replay-banner", class: "replay", role: "note" },
      el("b", {}, "Replay"), ` of ${replay.race_date}, dataset ${replay.dataset}: `,
      "a recorded day played again on its own clock and paper ledger; nothing here is live.");
    $("main").prepend(banner);
  }

  const NAV = [
    ["today", "index.html", "今日", "today"],
    ["bankroll", "bankroll.html", "資金", "bankroll"],
    ["bets", "bets.html", "馬券", "bets"],
    ["models", "models.html", "モデル", "models"],
    ["alerts", "alerts.html", "警告", "alerts"],
  ];

  function header() {
    const links = NAV.map(([page, href, ja, en]) =>
      el("a", { href: withDate(href), "aria-current": page === PAGE ? "page" : null },
        `${ja} `, el("span", {}, en)));
    $("header").replaceChildren(
      el("a", { class: "brand", href: "index.html" }, "keiba"),
      el("nav", {}, links),
      el("span", { id: "who" }),
      el("button", { type: "button", id: "logout", onclick: () => toLogin() }, "Log out"));
  }

  const PAGES = { today: pageToday, race: pageRace, bankroll: pageBankroll, bets: pageBets,
    models: pageModels, alerts: pageAlerts };

  async function start() {
    if (PAGE === "login") return pageLogin();
    if (!token()) return toLogin();
    header();
    try {
      const me = await api("/whoami");
      $("#who").textContent = `${me.name} (${me.role})`;
      document.body.dataset.role = me.role;
      if (me.replay) replayBanner(me.replay);
      await PAGES[PAGE](me);
      document.body.dataset.ready = "true";
    } catch (e) {
      if (e.status !== 401) say(e.message);
    }
  }

  start();
})();
