// Numbers and times for people: prices at the symbol's tick precision, money to cents, R to two
// decimals, UTC times with their age. Pure functions on window.fmt; the dashboard and the
// backtest's report.html share this file. The JSON API keeps the raw values.
"use strict";

(function (root) {
  const MINUS = "\u2212";

  // Round a decimal string (or number) to `places` digits, half away from zero, on its digits:
  // "9870.47930419" -> "9870.48" with no binary floating point in between.
  function roundDecimal(value, places) {
    let text = typeof value === "number" ? numberText(value) : String(value).trim();
    if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(text)) return null;
    const negative = text[0] === "-";
    text = text.replace(/^[+-]/, "");
    let [whole, frac = ""] = text.split(".");
    whole = whole || "0";
    const keep = frac.slice(0, places).padEnd(places, "0");
    let digits = (whole + keep).split("").map(Number);
    if ((frac[places] || "0") >= "5") {
      let i = digits.length - 1;
      while (i >= 0) {
        if (digits[i] === 9) { digits[i] = 0; i -= 1; } else { digits[i] += 1; break; }
      }
      if (i < 0) digits = [1, ...digits];
    }
    const all = digits.join("");
    const intPart = all.slice(0, all.length - places).replace(/^0+(?=\d)/, "") || "0";
    const fracPart = places > 0 ? all.slice(all.length - places) : "";
    const isZero = /^0*$/.test(intPart + fracPart);
    return { negative: negative && !isZero, int: intPart, frac: fracPart };
  }

  function numberText(n) {
    // Plain digits even for tiny or huge numbers (String(1e-7) is "1e-7").
    if (!Number.isFinite(n)) return String(n);
    const text = String(n);
    return /e/i.test(text) ? n.toFixed(12).replace(/0+$/, "").replace(/\.$/, "") : text;
  }

  function group(intPart) {
    return intPart.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  function join(r, grouped, sign) {
    const body = (grouped ? group(r.int) : r.int) + (r.frac ? "." + r.frac : "");
    if (r.negative) return MINUS + body;
    return (sign && body.replace(/[0.,]/g, "") !== "" ? "+" : "") + body;
  }

  const missing = (v) => v === null || v === undefined || v === "";

  // A price at the symbol's tick precision (decimals from /series' price_decimals); unknown
  // precision keeps the value's own digits.
  function price(value, decimals) {
    if (missing(value)) return "–";
    if (decimals === null || decimals === undefined) {
      return typeof value === "number" ? numberText(value) : String(value);
    }
    const r = roundDecimal(value, decimals);
    return r ? join(r, false, false) : String(value);
  }

  // Money in USDT, to cents, thousands grouped; `signed` puts + on gains (PnL, not balances).
  function money(value, signed) {
    if (missing(value)) return "–";
    const r = roundDecimal(value, 2);
    return r ? join(r, true, Boolean(signed)) : String(value);
  }

  function r(value) {
    if (missing(value)) return "–";
    const x = roundDecimal(value, 2);
    return x ? join(x, false, true) + " R" : String(value);
  }

  function pct(value, places) {
    if (missing(value)) return "–";
    const x = roundDecimal(value, places === undefined ? 2 : places);
    return x ? join(x, false, false) + " %" : String(value);
  }

  function pad(n) { return String(n).padStart(2, "0"); }

  // "2025-11-26 09:40 UTC"; with `seconds`, "09:40:05".
  function utc(ms, seconds) {
    if (missing(ms)) return "–";
    const d = new Date(ms);
    const day = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
    const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}` + (seconds ? `:${pad(d.getUTCSeconds())}` : "");
    return `${day} ${time} UTC`;
  }

  function age(ms) {
    if (missing(ms)) return "–";
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 120) return `${s}s`;
    if (s < 7200) return `${Math.round(s / 60)}m`;
    if (s < 172800) return `${Math.round(s / 3600)}h`;
    return `${Math.round(s / 86400)}d`;
  }

  // "2025-11-26 09:35 UTC · 5m ago" against the bot's clock `now` (venue time).
  function when(ms, now) {
    if (missing(ms)) return "–";
    return missing(now) ? utc(ms) : `${utc(ms)} · ${age(now - ms)} ago`;
  }

  function signClass(value) {
    const n = Number(value);
    return n > 0 ? "up" : n < 0 ? "down" : "";
  }

  // A position's break-even state: the stop on or beyond the entry in the trade's favour.
  function breakEven(position) {
    if (!position || missing(position.stop_loss)) return "no stop";
    if (missing(position.avg_price)) return "–";
    const stop = Number(position.stop_loss), entry = Number(position.avg_price);
    const locked = position.side === "Sell" ? stop <= entry : stop >= entry;
    return locked ? "locked" : "open risk";
  }

  root.fmt = { roundDecimal, price, money, r, pct, utc, age, when, signClass, breakEven };
})(typeof window !== "undefined" ? window : globalThis);
