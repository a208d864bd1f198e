// The charts, drawn with TradingView Lightweight Charts (vendored, window.LightweightCharts):
// the equity curve over its drawdown, and one symbol's candles with the bot's marks, its
// stop/target/order lines and the WaveTrend pane. Shared by the dashboard and report.html;
// both hand it the JSON of /equity and /series (report.html builds the same shapes).
"use strict";

(function (root) {
  const LW = root.LightweightCharts;
  const fmt = root.fmt;
  const COLORS = {
    bg: "#171d25", text: "#dde3ea", grid: "#222a35", line: "#2a3340", muted: "#8b96a5",
    up: "#3fb97a", down: "#e5534b", warn: "#d29922", take: "#4ea1ff", wt1: "#3fb97a", wt2: "#e5534b",
    equity: "#4ea1ff",
  };
  const EXIT_COLORS = {
    stop: COLORS.down, target: COLORS.up, break_even: COLORS.warn, manual: "#c9d1d9",
    liquidation: "#b083f0", unknown: COLORS.muted,
  };

  const seconds = (ms) => Math.floor(ms / 1000);

  function baseOptions(extra) {
    return Object.assign({
      autoSize: true,
      layout: {
        background: { type: "solid", color: COLORS.bg }, textColor: COLORS.text, fontSize: 11,
        panes: { separatorColor: COLORS.line, enableResize: false },
        // The in-chart logo needs an inline <style>, which the dashboard's CSP refuses: the page
        // credits TradingView in its footer instead (see vendor/NOTICE).
        attributionLogo: false,
      },
      grid: { vertLines: { color: COLORS.grid }, horzLines: { color: COLORS.grid } },
      rightPriceScale: { borderColor: COLORS.line },
      timeScale: { borderColor: COLORS.line, timeVisible: true, secondsVisible: false },
      // The axis and crosshair speak UTC (the venue's clock): timestamps are not shifted.
      localization: { timeFormatter: (t) => fmt.utc(t * 1000) },
      crosshair: { mode: 0 },
      // The in-chart logo needs an inline <style>, which the dashboard's CSP refuses; the page
      // credits TradingView in its footer instead (Apache-2.0 NOTICE, vendor/NOTICE).
    }, extra || {});
  }

  // Equity on top, drawdown (percent below the running peak) shaded underneath.
  function equityChart(container) {
    const chart = LW.createChart(container, baseOptions());
    const equity = chart.addSeries(LW.LineSeries, {
      color: COLORS.equity, lineWidth: 2, priceFormat: { type: "price", precision: 2, minMove: 0.01 },
      title: "equity",
    });
    const drawdown = chart.addSeries(LW.AreaSeries, {
      lineColor: COLORS.down, topColor: "rgba(229,83,75,0.15)", bottomColor: "rgba(229,83,75,0.55)",
      invertFilledArea: true, lineWidth: 1, priceFormat: { type: "custom", formatter: (v) => fmt.pct(v) },
      title: "drawdown",
    }, 1);
    chart.panes()[1].setHeight(Math.max(60, Math.round(container.clientHeight * 0.28)));
    let count = 0;
    return {
      chart,
      update(curve) {
        const times = curve.t.map(seconds);
        const points = uniqueTimes(times, curve.equity.map(Number));
        const dd = uniqueTimes(times, curve.drawdown_pct);
        equity.setData(points);
        drawdown.setData(dd);
        if (points.length !== count) chart.timeScale().fitContent();
        count = points.length;
        return points.length;
      },
    };
  }

  // One value per chart time (the library refuses repeats): the last one of a second wins.
  function uniqueTimes(times, values) {
    const out = [];
    for (let i = 0; i < times.length; i += 1) {
      if (values[i] === null || values[i] === undefined || Number.isNaN(values[i])) continue;
      if (out.length && out[out.length - 1].time === times[i]) out[out.length - 1].value = values[i];
      else out.push({ time: times[i], value: values[i] });
    }
    return out;
  }

  function candleData(bars, open, high, low, close) {
    const out = [];
    for (let i = 0; i < bars.t.length; i += 1) {
      if (open[i] === null || close[i] === null) continue;
      out.push({ time: seconds(bars.t[i]), open: open[i], high: high[i], low: low[i], close: close[i] });
    }
    return out;
  }

  // Each mark on the bar that holds it (the newest bar at or before it); marks before the
  // first bar are dropped.
  function markers(series, times) {
    const out = [];
    // A month of trades on one chart: shapes only, or the labels hide the candles.
    const labelled = series.marks.length <= 60;
    for (const m of series.marks) {
      const at = seconds(m.bar_ms);
      let lo = 0, hi = times.length - 1, found = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (times[mid] <= at) { found = mid; lo = mid + 1; } else hi = mid - 1;
      }
      if (found < 0) continue;
      const long = m.side === "Buy";
      const d = series.price_decimals;
      if (m.kind === "take") {
        out.push({ time: times[found], position: long ? "belowBar" : "aboveBar", shape: long ? "arrowUp" : "arrowDown",
          color: COLORS.take, text: labelled ? "TAKE" : "", id: `take-${m.time_ms}` });
      } else if (m.kind === "entry") {
        out.push({ time: times[found], position: "atPriceMiddle", price: Number(m.price), shape: "circle",
          color: long ? COLORS.up : COLORS.down, text: labelled ? `entry ${fmt.price(m.price, d)}` : "", id: `entry-${m.time_ms}` });
      } else if (m.kind === "exit") {
        out.push({ time: times[found], position: "atPriceMiddle", price: Number(m.price), shape: "square",
          color: EXIT_COLORS[m.reason] || COLORS.muted, text: labelled ? `${m.reason} ${fmt.r(m.pnl_r)}` : "", id: `exit-${m.time_ms}` });
      }
    }
    return out;
  }

  const LINE_STYLE = {
    stop: { color: COLORS.down, lineStyle: 2, title: "stop" },
    target: { color: COLORS.up, lineStyle: 2, title: "target" },
    position: { color: COLORS.muted, lineStyle: 0, title: "entry" },
    order: { color: COLORS.take, lineStyle: 1, title: "order" },
  };

  // Candles (or Heikin Ashi on demand) with marks and lines; WaveTrend with its zones below.
  function symbolChart(container, options) {
    const withWaveTrend = !(options && options.waveTrend === false);
    const chart = LW.createChart(container, baseOptions());
    const candles = chart.addSeries(LW.CandlestickSeries, {
      upColor: COLORS.up, downColor: COLORS.down, borderVisible: false,
      wickUpColor: COLORS.up, wickDownColor: COLORS.down,
    });
    const marks = LW.createSeriesMarkers(candles, []);
    let wt1 = null, wt2 = null;
    if (withWaveTrend) {
      wt1 = chart.addSeries(LW.LineSeries, { color: COLORS.wt1, lineWidth: 2, title: "wt1",
        priceFormat: { type: "price", precision: 2, minMove: 0.01 }, lastValueVisible: false }, 1);
      wt2 = chart.addSeries(LW.LineSeries, { color: COLORS.wt2, lineWidth: 1, title: "wt2",
        priceFormat: { type: "price", precision: 2, minMove: 0.01 }, lastValueVisible: false }, 1);
      chart.panes()[1].setHeight(Math.max(70, Math.round(container.clientHeight * 0.3)));
    }
    let lines = [], zones = [], key = null, drawn = { markers: 0, bars: 0, lines: 0 };
    return {
      chart,
      update(series, options) {
        const ha = Boolean(options && options.heikinAshi);
        const d = series.price_decimals;
        if (d !== null && d !== undefined) {
          candles.applyOptions({ priceFormat: { type: "price", precision: d, minMove: Math.pow(10, -d) } });
        }
        const src = ha && series.ha ? series.ha : series.bars;
        const data = candleData(series.bars, src.o, src.h, src.l, src.c);
        candles.setData(data);
        const times = data.map((p) => p.time);
        if (wt1 && series.wt) {
          wt1.setData(uniqueTimes(series.bars.t.map(seconds), series.wt.wt1));
          wt2.setData(uniqueTimes(series.bars.t.map(seconds), series.wt.wt2));
          for (const z of zones) wt1.removePriceLine(z);
          zones = [series.params.overbought, 0, series.params.oversold].map((level) => wt1.createPriceLine({
            price: level, color: level === 0 ? COLORS.line : COLORS.muted, lineStyle: 2, lineWidth: 1,
            axisLabelVisible: level !== 0, title: "",
          }));
        }
        const m = markers(series, times);
        marks.setMarkers(m);
        for (const l of lines) candles.removePriceLine(l);
        lines = series.lines.map((l) => candles.createPriceLine(Object.assign({
          price: Number(l.price), lineWidth: 1, axisLabelVisible: true,
        }, LINE_STYLE[l.kind] || LINE_STYLE.order)));
        const next = `${series.symbol}/${series.interval}/${series.hours}`;
        if (next !== key) chart.timeScale().fitContent();
        key = next;
        drawn = { markers: m.length, bars: data.length, lines: lines.length, kinds: m.map((x) => x.id.split("-")[0]) };
        return drawn;
      },
      drawn: () => drawn,
    };
  }

  // How much of a chart is drawn: the share of sampled canvas pixels that differ from the
  // background (tests and the page's own self-check read this).
  function inkRatio(container) {
    let ink = 0, total = 0;
    for (const canvas of container.querySelectorAll("canvas")) {
      if (!canvas.width || !canvas.height) continue;
      const ctx = canvas.getContext("2d");
      if (!ctx) continue;
      const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 0; i < pixels.length; i += 4 * 7) {
        total += 1;
        if (pixels[i + 3] > 0 && (Math.abs(pixels[i] - 0x17) + Math.abs(pixels[i + 1] - 0x1d) + Math.abs(pixels[i + 2] - 0x25)) > 30) ink += 1;
      }
    }
    return total ? ink / total : 0;
  }

  // Counts per bin on a numeric horizontal axis (the library's options-chart scale), for R multiples.
  function histogramChart(container, histogram) {
    // localization.precision: decimals of the options chart's horizontal axis (the R bins).
    const chart = LW.createOptionsChart(container, baseOptions({
      localization: { priceFormatter: (v) => String(Math.round(v)), precision: 2 },
    }));
    const bars = chart.addSeries(LW.HistogramSeries, { priceFormat: { type: "price", precision: 0, minMove: 1 },
      lastValueVisible: false, priceLineVisible: false });
    bars.setData(histogram.edge.map((edge, i) => ({
      time: edge, value: histogram.count[i], color: edge < 0 ? COLORS.down : COLORS.up,
    })));
    chart.timeScale().fitContent();
    return { chart, bins: histogram.edge.length };
  }

  root.smtCharts = { equityChart, symbolChart, histogramChart, inkRatio, markers, COLORS, EXIT_COLORS };
})(typeof window !== "undefined" ? window : globalThis);
