// tune.html's page script (inlined by backtest/report_html.py): the trials' in- vs out-of-sample
// scatter on numeric axes, and the chosen trial's equity curves.
"use strict";

(function () {
  const LW = window.LightweightCharts, C = window.smtCharts.COLORS;
  const data = JSON.parse(document.getElementById("report-data").textContent);
  let drawn = 0;
  const s = data.scatter;
  if (s.is.length) {
    const chart = LW.createOptionsChart(document.getElementById("scatter"), {
      autoSize: true, layout: { background: { type: "solid", color: C.bg }, textColor: C.text, attributionLogo: false },
      grid: { vertLines: { color: C.grid }, horzLines: { color: C.grid } },
      // precision: the options chart's horizontal axis (in-sample R); priceFormatter: the vertical one.
      localization: { priceFormatter: (v) => `${v.toFixed(2)} R`, precision: 2 },
    });
    // The horizontal axis needs strictly increasing values: equal in-sample figures are nudged apart.
    const nudge = (xs) => xs.map((x, i) => x + i * 1e-9);
    const xs = nudge(s.is);
    const dots = chart.addSeries(LW.LineSeries, { lineVisible: false, pointMarkersVisible: true, pointMarkersRadius: 3,
      color: C.take, lastValueVisible: false, priceLineVisible: false });
    dots.setData(xs.map((x, i) => ({ time: x, value: s.oos[i] })));
    const k = s.trial.indexOf(data.chosen);
    if (k >= 0) {
      const chosen = chart.addSeries(LW.LineSeries, { lineVisible: false, pointMarkersVisible: true, pointMarkersRadius: 7,
        color: C.warn, lastValueVisible: false, priceLineVisible: false, title: `chosen #${data.chosen}` });
      chosen.setData([{ time: xs[k], value: s.oos[k] }]);
    }
    const lo = Math.min(xs[0], ...s.oos), hi = Math.max(xs[xs.length - 1], ...s.oos);
    if (hi > lo) {
      const diagonal = chart.addSeries(LW.LineSeries, { color: C.muted, lineWidth: 1, lineStyle: 2, lastValueVisible: false,
        priceLineVisible: false, title: "OOS = IS" });
      diagonal.setData([{ time: lo - 1e-6, value: lo }, { time: hi + 1e-6, value: hi }]);
    }
    chart.timeScale().fitContent();
    drawn += 1;
  }
  for (const [key, curve] of Object.entries(data.curves)) {
    const box = document.querySelector(`[data-curve="${key}"]`);
    if (window.smtCharts.equityChart(box).update(curve) > 0) drawn += 1;
  }
  document.body.dataset.drawn = String(drawn);
})();
