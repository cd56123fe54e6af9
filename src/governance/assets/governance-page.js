/* global window, document */
// Draws the governance charts from the JSON the server rendered into the page (no build step).
(function () {
  var specs = JSON.parse(document.getElementById('governance-charts').textContent || '[]');
  var colours = ['#4a6fa5', '#2e8b57', '#c0504d', '#8064a2'];
  window.governanceCharts = specs.map(function (spec) {
    var canvas = document.getElementById(spec.id);
    if (!canvas || !window.Chart) return null;
    return new window.Chart(canvas, {
      type: 'bar',
      data: {
        labels: spec.labels,
        datasets: spec.datasets.map(function (d, i) {
          return { label: d.label, data: d.data, backgroundColor: colours[i % colours.length] };
        }),
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: {
          y: {
            beginAtZero: true,
            max: spec.unit === '%' ? 100 : spec.unit === 'mean' ? 5 : undefined,
            title: { display: true, text: spec.unit },
          },
        },
      },
    });
  });
  document.body.setAttribute('data-charts-drawn', String(window.governanceCharts.filter(Boolean).length));
})();
