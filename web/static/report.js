// report.html's page script (inlined by backtest/report_html.py): formats the figures the page
// carries raw (data-value, straight from report.json) and draws the charts from #report-data.
"use strict";

(function () {
  const fmt = window.fmt;
  const data = JSON.parse(document.getElementById("report-data").textContent);
  // data-value is report.json's raw figure ("" where it has none); win rates are fractions there.
  const formats = {
    money: (v) => fmt.money(v), "money-signed": (v) => fmt.money(v, true), r: (v) => fmt.r(v),
    pct: (v) => fmt.pct(v), fraction: (v) => fmt.pct(Number(v) * 100, 1),
  };
  for (const node of document.querySelectorAll("[data-fmt]")) {
    const raw = node.dataset.value;
    node.textContent = raw === "" ? "–" : formats[node.dataset.fmt](raw);
    if (node.dataset.fmt.startsWith("money") || node.dataset.fmt === "r") node.className = fmt.signClass(raw);
  }
  for (const node of document.querySelectorAll("[data-ms]")) node.textContent = fmt.utc(Number(node.dataset.ms));
  let drawn = 0;
  const equity = window.smtCharts.equityChart(document.getElementById("equity-chart"));
  if (equity.update(data.equity) > 0) drawn += 1;
  const histogram = window.smtCharts.histogramChart(document.getElementById("r-histogram"), data.histogram);
  if (histogram.bins > 0) drawn += 1;
  for (const series of data.series) {
    const box = document.querySelector(`.chart.symbol[data-symbol="${series.symbol}"]`);
    const chart = window.smtCharts.symbolChart(box, { waveTrend: false });
    const result = chart.update(series, {});
    box.dataset.bars = String(result.bars);
    box.dataset.markers = String(result.markers);
    drawn += 1;
  }
  document.body.dataset.drawn = String(drawn);
})();
