"use strict";
// Everything is inside this file: plotly.js and the findings, gzip-compressed and base64-encoded.
async function unpack(id) {
  const text = document.getElementById(id).textContent.trim();
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return await new Response(stream).text();
}
document.getElementById("download-findings").addEventListener("click", async () => {
  const holder = document.getElementById("findings-csv");
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([await unpack("findings-csv")], { type: "text/csv" }));
  link.download = holder.dataset.fileName;
  document.body.appendChild(link);
  link.click();
  link.remove();
});
(async () => {
  (0, eval)(await unpack("plotly-js"));
  for (const holder of document.querySelectorAll("script[id$='-json']")) {
    const figure = JSON.parse(holder.textContent);
    const target = document.getElementById(holder.id.replace(/-json$/, ""));
    window.Plotly.newPlot(target, figure.data, figure.layout, { displaylogo: false, responsive: true });
  }
})();
