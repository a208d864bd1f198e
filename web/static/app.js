// The dashboard: polls the JSON routes every 5 s and renders them with textContent only
// (journal text is never parsed as HTML). No framework, no build step.
"use strict";

const POLL_MS = 5000;

function el(tag, text, attrs) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  return node;
}

function time(ms) {
  if (ms === null || ms === undefined) return "–";
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19);
}

function signClass(value) {
  const n = Number(value);
  return n > 0 ? "up" : n < 0 ? "down" : "";
}

function cell(row, label, text, cls, field) {
  const td = el("td", text, { "data-label": label, "data-field": field || label.toLowerCase() });
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function replaceRows(tableId, rows) {
  const body = document.querySelector(`#${tableId} tbody`);
  body.replaceChildren(...rows);
}

function ago(ms) {
  if (ms === null || ms === undefined) return "no bars";
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  if (s < 172800) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

function feedText(row) {
  return { text: `${row.is_stale ? "stale" : "ok"} · ${ago(row.bar_age_ms)}`, cls: row.is_stale ? "warn" : "up" };
}

function renderStatus(status) {
  const set = (field, value) => { document.querySelector(`#summary [data-field="${field}"]`).textContent = value; };
  set("venue", [status.venue, status.mode].filter(Boolean).join(" · ") || "–");
  set("equity", status.equity !== undefined && status.equity !== null ? `${status.equity} USDT` : "–");
  set("open_positions", status.open_positions);
  set("last_tick", time(status.journal && status.journal.last_tick_ms));
  const lat = status.cycle_latency_ms;
  set("cycle_p99", lat && lat.p99 !== null ? `${lat.p99.toFixed(1)} ms` : "–");
  replaceRows("symbols", status.symbols.map((row) => {
    const tr = el("tr", null, { "data-symbol": row.symbol });
    tr.appendChild(el("th", row.symbol));
    cell(tr, "Last bar", time(row.last_bar_ms), null, "bar_time");
    cell(tr, "Close", row.last_close !== null ? row.last_close : "–", null, "close");
    const d = row.last_decision;
    cell(tr, "Decision", d ? [d.kind, d.path, d.side, d.score !== null ? d.score.toFixed(2) : null].filter(Boolean).join(" ") : "–",
      d ? d.kind : null, "decision");
    const p = row.positions[0];
    cell(tr, "Position", p ? `${p.side} ${p.size} @ ${p.avg_price}` : "flat", null, "position");
    cell(tr, "uPnL", row.unrealised_pnl !== null ? row.unrealised_pnl : "–", signClass(row.unrealised_pnl), "upnl");
    const feed = feedText(row);
    cell(tr, "Feed", feed.text, feed.cls, "feed");
    return tr;
  }));
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
    put("pnl_usdt", total.pnl_usdt, signClass(total.pnl_usdt));
    put("pnl_r", total.pnl_r.toFixed(2), signClass(total.pnl_r));
    put("trades", total.trades);
    put("won_lost", `${total.wins} / ${total.losses}`);
    put("fees", total.fees);
  }
  replaceRows("ledger-symbols", Object.entries(pnl.all.by_symbol).map(([symbol, s]) => {
    const tr = el("tr", null, { "data-symbol": symbol });
    tr.appendChild(el("th", symbol));
    cell(tr, "USDT", s.pnl_usdt, signClass(s.pnl_usdt), "pnl_usdt");
    cell(tr, "R", s.pnl_r.toFixed(2), signClass(s.pnl_r), "pnl_r");
    cell(tr, "Trades", s.trades);
    cell(tr, "Won / lost", `${s.wins} / ${s.losses}`, null, "won_lost");
    return tr;
  }));
}

function renderTrades(data) {
  replaceRows("trades", data.trades.map((t) => {
    const tr = el("tr", null, { "data-seq": t.seq });
    cell(tr, "Exit", time(t.exit_ms));
    cell(tr, "Symbol", t.symbol);
    cell(tr, "Side", t.side);
    cell(tr, "Path", t.path || "–");
    cell(tr, "USDT", t.pnl_usdt, signClass(t.pnl_usdt), "pnl_usdt");
    cell(tr, "R", t.pnl_r !== null ? t.pnl_r.toFixed(2) : "–", signClass(t.pnl_r), "pnl_r");
    cell(tr, "Exit reason", t.exit_reason, null, "exit_reason");
    return tr;
  }));
}

function renderEvents(data) {
  replaceRows("events", data.events.map((e) => {
    const tr = el("tr", null, { "data-seq": e.seq });
    cell(tr, "Time", time(e.ts_ms));
    cell(tr, "Level", e.level, e.level === "ERROR" || e.level === "CRITICAL" ? "down" : e.level === "WARNING" ? "warn" : "");
    cell(tr, "Kind", e.kind);
    cell(tr, "Message", e.message);
    return tr;
  }));
}

async function getJson(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
  const body = await response.json();
  if (!response.ok) throw new Error(`${path}: ${body.error || response.status}`);
  return body;
}

async function poll() {
  const problem = document.getElementById("problem");
  try {
    const [status, pnl, trades, events] = await Promise.all([
      getJson("/status"), getJson("/pnl"), getJson("/trades?limit=20"), getJson("/events?limit=20"),
    ]);
    renderStatus(status);
    renderPnl(pnl);
    renderTrades(trades);
    renderEvents(events);
    problem.hidden = !status.status_error;
    problem.textContent = status.status_error || "";
    document.querySelector('#summary [data-field="updated"]').textContent = time(status.now_ms);
    document.body.dataset.seq = String(status.journal.last_seq);  // the journal version this render shows
    document.body.dataset.polls = String(Number(document.body.dataset.polls) + 1);
  } catch (err) {
    problem.hidden = false;
    problem.textContent = `Update failed: ${err.message}`;
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
