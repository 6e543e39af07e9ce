// Billing history: the spend-per-month chart, drawn from the JSON the page carries.
// Without JavaScript (or Chart.js) the table beside it says the same.
(function () {
  var data = document.getElementById("spend-data");
  var canvas = document.getElementById("spend-chart");
  if (!data || !canvas || typeof Chart === "undefined") return;
  var months = JSON.parse(data.textContent);
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: months.map(function (m) { return m.month; }),
      datasets: [
        { label: canvas.dataset.card || "Card", data: months.map(function (m) { return m.card_cents / 100; }), backgroundColor: "#2454a6" },
        { label: canvas.dataset.prepaid || "Prepaid credit", data: months.map(function (m) { return m.prepaid_cents / 100; }), backgroundColor: "#7fa7e6" }
      ]
    },
    options: { animation: false, responsive: true, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } }
  });
})();
