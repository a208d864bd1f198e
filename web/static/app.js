// The dashboard: polls the JSON routes every 5 s and renders them with textContent only
// (journal text is never parsed as HTML). No framework, no build step.
//
// Polling, not server-sent events: the journal is a SQLite file the server itself only learns
// about by reading, the data moves once a minute (closed 1m bars), every route stays a
// stateless GET the token guard already covers, and no connection is held open on the web
// thread that shares two cores with the bot's cycle. The charts are refetched only when the
// journal's version (/status journal.last_seq) has moved.
"use strict";

const POLL_MS = 5000;
const fmt = window.fmt;
const view = {
  symbol: null, interval: 1, hours: 6, heikinAshi: false, seq: null, chartSeq: null, now: null,
  decimals: {}, equity: null, chart: null, lastSeries: null, chartError: null,
  run: null,  // the run shown: null is the current one (the server's default), else a run_id
};

// A route of one run: the chosen run's id appended when the user picked an earlier run.
function ofRun(path) {
  if (view.run === null) return path;
  return `${path}${path.includes("?") ? "&" : "?"}run=${view.run}`;
}

function el(tag, text, attrs) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  return node;
}

function cell(row, label, text, cls, field) {
  const td = el("td", text, { "data-label": label, "data-field": field || label.toLowerCase() });
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function replaceRows(tableId, rows) {
  document.querySelector(`#${tableId} tbody`).replaceChildren(...rows);
  const empty = document.querySelector(`[data-empty="${tableId}"]`);
  if (empty) {
    empty.hidden = rows.length > 0;
    document.getElementById(tableId).hidden = rows.length === 0;
  }
}

const price = (symbol, value) => fmt.price(value, view.decimals[symbol]);

function feedText(row) {
  const age = row.bar_age_ms === null || row.bar_age_ms === undefined ? "no bars" : `${fmt.age(row.bar_age_ms)} ago`;
  return { text: `${row.is_stale ? "stale" : "ok"} · ${age}`, cls: row.is_stale ? "warn" : "up" };
}

function renderStatus(status) {
  const set = (field, value, cls) => {
    const dd = document.querySelector(`#summary [data-field="${field}"]`);
    dd.textContent = value;
    if (cls !== undefined) dd.className = cls;
  };
  view.now = status.now_ms;
  document.querySelector('[data-field="venue_time"]').textContent = fmt.utc(status.now_ms, true);
  set("venue", [status.venue, status.mode].filter(Boolean).join(" · ") || "–");
  set("equity", status.equity !== undefined && status.equity !== null ? `${fmt.money(status.equity)} USDT` : "–");
  set("open_positions", status.open_positions);
  set("last_tick", fmt.when(status.journal && status.journal.last_tick_ms, status.now_ms));
  const lat = status.cycle_latency_ms;
  set("cycle_p99", lat && lat.p99 !== null ? `${lat.p99.toFixed(1)} ms` : "–");
  replaceRows("symbols", status.symbols.map((row) => {
    const tr = el("tr", null, { "data-symbol": row.symbol });
    tr.appendChild(el("th", row.symbol));
    cell(tr, "Last bar", fmt.utc(row.last_bar_ms), null, "bar_time");
    cell(tr, "Close", row.last_close !== null ? price(row.symbol, row.last_close) : "–", null, "close");
    const d = row.last_decision;
    cell(tr, "Decision", d ? [d.kind, d.path, d.side, d.score !== null ? d.score.toFixed(2) : null].filter(Boolean).join(" ") : "–",
      d ? d.kind : null, "decision");
    const p = row.positions[0];
    cell(tr, "Position", p ? `${p.side} ${p.size} @ ${price(row.symbol, p.avg_price)}` : "flat", null, "position");
    cell(tr, "uPnL", row.unrealised_pnl !== null ? fmt.money(row.unrealised_pnl, true) : "–", fmt.signClass(row.unrealised_pnl), "upnl");
    const feed = feedText(row);
    cell(tr, "Feed", feed.text, feed.cls, "feed");
    return tr;
  }));
  const select = document.getElementById("chart-symbol");
  const names = status.symbols.map((s) => s.symbol);
  if (select.options.length !== names.length || names.some((n, i) => select.options[i].value !== n)) {
    select.replaceChildren(...names.map((n) => el("option", n, { value: n })));
  }
  if (!view.symbol || !names.includes(view.symbol)) view.symbol = names[0] || null;
  if (view.symbol) select.value = view.symbol;
}

// Keys /pnl's totals carry beyond the basic ledger (a gross/fees/slippage/funding split when the
// server provides one) are shown as they come, money-formatted.
const LEDGER_KEYS = new Set(["trades", "wins", "losses", "pnl_usdt", "fees", "pnl_r", "r_trades"]);

function breakdownText(total) {
  const parts = [];
  const source = total.breakdown && typeof total.breakdown === "object" ? total.breakdown : total;
  for (const [key, value] of Object.entries(source)) {
    if (source === total && LEDGER_KEYS.has(key)) continue;
    if (value === null || typeof value === "object" || Number.isNaN(Number(value))) continue;
    parts.push(`${key.replace(/_usdt$/, "").replace(/_/g, " ")} ${fmt.money(value, true)}`);
  }
  return parts.join(" · ") || "–";
}

function renderPnl(pnl) {
  for (const name of ["today", "7d", "all"]) {
    const total = pnl[name].total;
    const row = document.querySelector(`#ledger tr[data-window="${name}"]`);
    const put = (field, value, cls) => {
      const td = row.querySelector(`[data-field="${field}"]`);
      td.textContent = value;
      td.className = cls || "";
    };
    put("pnl_usdt", fmt.money(total.pnl_usdt, true), fmt.signClass(total.pnl_usdt));
    put("pnl_r", fmt.r(total.pnl_r), fmt.signClass(total.pnl_r));
    put("trades", total.trades);
    put("won_lost", `${total.wins} / ${total.losses}`);
    put("fees", fmt.money(total.fees));
    put("breakdown", breakdownText(total));
  }
  const today = pnl.today.total.pnl_usdt;
  const dd = document.querySelector('#summary [data-field="pnl_today"]');
  dd.textContent = `${fmt.money(today, true)} USDT`;
  dd.className = fmt.signClass(today);
  replaceRows("ledger-symbols", Object.entries(pnl.all.by_symbol).map(([symbol, s]) => {
    const tr = el("tr", null, { "data-symbol": symbol });
    tr.appendChild(el("th", symbol));
    cell(tr, "USDT", fmt.money(s.pnl_usdt, true), fmt.signClass(s.pnl_usdt), "pnl_usdt");
    cell(tr, "R", fmt.r(s.pnl_r), fmt.signClass(s.pnl_r), "pnl_r");
    cell(tr, "Trades", s.trades);
    cell(tr, "Won / lost", `${s.wins} / ${s.losses}`, null, "won_lost");
    return tr;
  }));
}

function renderTrades(data) {
  replaceRows("trades", data.trades.map((t) => {
    const tr = el("tr", null, { "data-seq": t.seq });
    cell(tr, "Exit", fmt.when(t.exit_ms, view.now));
    cell(tr, "Symbol", t.symbol);
    cell(tr, "Side", t.side);
    cell(tr, "Path", t.path || "–");
    cell(tr, "USDT", fmt.money(t.pnl_usdt, true), fmt.signClass(t.pnl_usdt), "pnl_usdt");
    cell(tr, "R", fmt.r(t.pnl_r), fmt.signClass(t.pnl_r), "pnl_r");
    cell(tr, "Exit reason", t.exit_reason, null, "exit_reason");
    return tr;
  }));
}

function renderEvents(data) {
  replaceRows("events", data.events.map((e) => {
    const tr = el("tr", null, { "data-seq": e.seq });
    cell(tr, "Time", fmt.when(e.ts_ms, view.now), null, "time");
    cell(tr, "Level", e.level, e.level === "ERROR" || e.level === "CRITICAL" ? "down" : e.level === "WARNING" ? "warn" : "");
    cell(tr, "Kind", e.kind);
    cell(tr, "Message", e.message);
    return tr;
  }));
}

function renderOpen(positions, orders) {
  replaceRows("positions", positions.positions.map((p) => {
    const tr = el("tr", null, { "data-symbol": p.symbol });
    tr.appendChild(el("th", p.symbol));
    cell(tr, "Side", p.side);
    cell(tr, "Size", p.size);
    cell(tr, "Entry", price(p.symbol, p.avg_price), null, "entry");
    cell(tr, "Stop", price(p.symbol, p.stop_loss), p.stop_loss ? null : "down", "stop");
    cell(tr, "Target", price(p.symbol, p.take_profit), null, "target");
    const be = fmt.breakEven(p);
    cell(tr, "Break-even", be, be === "locked" ? "up" : be === "no stop" ? "down" : "", "break_even");
    // The venue's liquidation price (Bybit's liqPrice); journals before schema 5 and positions the
    // venue reports none for (fully covered, or hedged) say so rather than show a number.
    cell(tr, "Liq. price", p.liq_price ? price(p.symbol, p.liq_price) : "not reported", null, "liq_price");
    cell(tr, "Mark", price(p.symbol, p.mark_price), null, "mark");
    cell(tr, "uPnL", fmt.money(p.unrealised_pnl, true), fmt.signClass(p.unrealised_pnl), "upnl");
    return tr;
  }));
  replaceRows("orders", orders.orders.map((o) => {
    const tr = el("tr", null, { "data-link": o.order_link_id || "" });
    tr.appendChild(el("th", o.symbol));
    cell(tr, "For", purpose(o), null, "purpose");
    cell(tr, "Side", o.side);
    cell(tr, "Type", [o.order_type, o.time_in_force].filter(Boolean).join(" "), null, "type");
    cell(tr, "Qty", o.qty);
    cell(tr, "Price", price(o.symbol, o.price), null, "price");
    cell(tr, "Stop", price(o.symbol, o.stop_loss), null, "stop");
    cell(tr, "Status", o.status || (o.outcome === "ok" ? "acknowledged" : o.outcome), null, "status");
    cell(tr, "Since", fmt.when(o.ts_ms, view.now), null, "since");
    return tr;
  }));
}

// What an order is for, from our orderLinkId's first letter (strategy/orders.py).
function purpose(order) {
  const link = order.order_link_id || "";
  const kinds = { e: "entry", t: "take-profit", q: "take-profit", x: "close" };
  return /^[etqx][cph]?[LS]-/.test(link) ? kinds[link[0]] : (order.reduce_only ? "reduce" : "other");
}

async function getJson(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
  const body = await response.json();
  if (!response.ok) throw new Error(`${path}: ${body.error || response.status}`);
  return body;
}

function ensureCharts() {
  if (view.equity || !window.smtCharts) return;
  view.equity = window.smtCharts.equityChart(document.getElementById("equity-chart"));
  view.chart = window.smtCharts.symbolChart(document.getElementById("symbol-chart"));
}

async function refreshEquity() {
  const curve = await getJson(ofRun("/equity"));
  const box = document.getElementById("equity-chart");
  box.dataset.points = String(view.equity.update(curve));
  document.getElementById("equity-note").textContent = curve.source === "wallet"
    ? "wallet equity, net of fees, from the journal"
    : "closed trades' net PnL summed (no wallet reports in the journal)";
}

async function refreshChart() {
  if (!view.symbol) return;
  const box = document.getElementById("symbol-chart");
  const wanted = ofRun(`/series?symbol=${view.symbol}&interval=${view.interval}&hours=${view.hours}`);
  view.wanted = wanted;
  let series;
  try {
    series = await getJson(wanted);
    if (view.wanted !== wanted) return;  // the user picked another chart meanwhile: that answer draws
  } catch (err) {
    if (view.wanted !== wanted) return;
    box.dataset.bars = "0";
    box.dataset.markers = "0";
    box.dataset.error = err.message;
    return;
  }
  delete box.dataset.error;
  view.decimals[series.symbol] = series.price_decimals;
  view.lastSeries = series;
  const drawn = view.chart.update(series, { heikinAshi: view.heikinAshi });
  box.dataset.symbol = series.symbol;
  box.dataset.interval = String(series.interval);
  box.dataset.bars = String(drawn.bars);
  box.dataset.markers = String(drawn.markers);
  box.dataset.markKinds = drawn.kinds.join(",");
  box.dataset.lines = String(drawn.lines);
  box.dataset.ha = String(view.heikinAshi);
}

async function refreshTicks() {
  const ticks = await getJson("/ticks");
  for (const [symbol, t] of Object.entries(ticks.symbols)) view.decimals[symbol] = t.price_decimals;
}

async function refreshCharts() {
  ensureCharts();
  await Promise.all([refreshEquity(), refreshChart()]);
  view.chartSeq = view.seq;
  document.body.dataset.chartSeq = String(view.seq);
}

async function poll() {
  const problem = document.getElementById("problem");
  try {
    const [status, pnl, trades, events, positions, orders, runs] = await Promise.all([
      getJson(ofRun("/status")), getJson(ofRun("/pnl")), getJson(ofRun("/trades?limit=20")),
      getJson(ofRun("/events/notable?limit=20")), getJson(ofRun("/positions")), getJson("/orders"), getJson("/runs"),
    ]);
    renderRuns(runs);
    // The charts are redrawn when the journal moved or when another run was picked.
    view.seq = `${status.journal.last_seq}:${view.run}`;
    if (view.chartSeq !== view.seq) await refreshTicks();
    renderStatus(status);
    if (view.chartSeq !== view.seq) await refreshCharts();
    renderPnl(pnl);
    renderTrades(trades);
    renderEvents(events);
    renderOpen(positions, orders);
    problem.hidden = !status.status_error;
    problem.textContent = status.status_error || "";
    document.querySelector('#summary [data-field="updated"]').textContent = fmt.utc(status.now_ms, true);
    document.body.dataset.seq = String(status.journal.last_seq);  // the journal version this render shows
    document.body.dataset.run = String(status.journal.run ? status.journal.run.run_id : "");  // the run it shows
    document.body.dataset.polls = String(Number(document.body.dataset.polls) + 1);
  } catch (err) {
    problem.hidden = false;
    problem.textContent = `Update failed: ${err.message}`;
  } finally {
    clearTimeout(view.timer);
    view.timer = setTimeout(poll, POLL_MS);
  }
}

// The run picker: the current run (the default, followed across restarts) or an earlier one,
// each named by its number, how it started and when. An earlier run's figures are its own.
function runLabel(run, current) {
  const parts = [`run ${run.run_id}`, run.mode, run.venue].filter(Boolean);
  const when = run.started_ms || run.ts_ms;
  if (when) parts.push(`from ${fmt.utc(when)}`);
  return `${parts.join(" · ")}${run.run_id === current ? " (current)" : ""}`;
}

function renderRuns(runs) {
  const select = document.getElementById("run");
  const wanted = [["", `current${runs.current !== null ? ` (run ${runs.current})` : ""}`],
    ...runs.runs.filter((r) => r.run_id !== runs.current).map((r) => [String(r.run_id), runLabel(r, runs.current)])];
  const same = select.options.length === wanted.length
    && wanted.every(([value, text], i) => select.options[i].value === value && select.options[i].textContent === text);
  if (!same) select.replaceChildren(...wanted.map(([value, text]) => el("option", text, { value })));
  if (view.run !== null && !runs.runs.some((r) => r.run_id === view.run)) view.run = null;
  select.value = view.run === null ? "" : String(view.run);
  document.getElementById("run-picker").hidden = runs.runs.length < 2;
  const note = document.getElementById("run-note");
  note.hidden = view.run === null;
  note.textContent = view.run === null ? "" : `Showing run ${view.run}, not the current one: its own trades, PnL, positions and events.`;
}

function wireControls() {
  document.getElementById("run").addEventListener("change", (e) => {
    view.run = e.target.value === "" ? null : Number(e.target.value);
    clearTimeout(view.timer);
    poll();
  });
  document.getElementById("chart-symbol").addEventListener("change", (e) => { view.symbol = e.target.value; refreshChart(); });
  document.getElementById("chart-hours").addEventListener("change", (e) => { view.hours = Number(e.target.value); refreshChart(); });
  document.getElementById("chart-ha").addEventListener("change", (e) => {
    view.heikinAshi = e.target.checked;
    if (view.lastSeries) refreshChart();
  });
  for (const button of document.querySelectorAll("[data-interval]")) {
    button.addEventListener("click", () => {
      view.interval = Number(button.dataset.interval);
      for (const b of document.querySelectorAll("[data-interval]")) b.setAttribute("aria-pressed", String(b === button));
      refreshChart();
    });
  }
}

wireControls();
poll();
