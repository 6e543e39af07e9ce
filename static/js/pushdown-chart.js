// Pushdown report: active / inactive / missing as bars, from the JSON the page carries.
// Without JavaScript (or Chart.js) the counts beside it say the same.
(function () {
  var data = document.getElementById("pushdown-chart-data");
  var canvas = document.getElementById("pushdown-chart");
  if (!data || !canvas || typeof Chart === "undefined") return;
  var chart = JSON.parse(data.textContent);
  new Chart(canvas, {
    type: "bar",
    data: { labels: chart.labels, datasets: [{ data: chart.values, backgroundColor: ["#198754", "#6c757d", "#dc3545"] }] },
    options: { animation: false, responsive: true, plugins: { legend: { display: false } },
               scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
  });
})();
