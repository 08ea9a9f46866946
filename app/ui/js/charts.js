// Small inline SVG charts: horizontal bars, one stacked bar, columns. No library.

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
  for (const child of children) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

function title(text) {
  return svg("title", {}, text);
}

/** Horizontal bars: entries [[label, value]], one row each, the value at the bar's end. */
export function bars(entries, { label = "", format = String } = {}) {
  const rowHeight = 26;
  const width = 400;
  const labelWidth = 150;
  const max = Math.max(1, ...entries.map(([, v]) => v));
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${Math.max(rowHeight, entries.length * rowHeight)}`,
    class: "chart bars",
    role: "img",
    "aria-label": label,
  });
  entries.forEach(([name, value], n) => {
    const y = n * rowHeight;
    const barWidth = ((width - labelWidth - 80) * value) / max;
    chart.append(
      svg("text", { x: labelWidth - 6, y: y + 17, "text-anchor": "end", class: "label" }, name),
      svg("rect", { x: labelWidth, y: y + 5, width: Math.max(value ? 2 : 0, barWidth), height: rowHeight - 10, rx: 3, class: "bar" }, title(`${name}: ${format(value)}`)),
      svg("text", { x: labelWidth + barWidth + 6, y: y + 17, class: "value" }, format(value)),
    );
  });
  if (!entries.length) chart.append(svg("text", { x: 6, y: 17, class: "label" }, "nothing yet"));
  return chart;
}

/** One bar split into parts [{label, value, cls}], out of `total` (the rest left empty). */
export function stacked(parts, total, { label = "" } = {}) {
  const width = 400;
  const height = 28;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart stacked", role: "img", "aria-label": label, preserveAspectRatio: "none" });
  chart.append(svg("rect", { x: 0, y: 0, width, height, class: "track" }));
  let x = 0;
  for (const part of parts) {
    const w = total ? (width * part.value) / total : 0;
    if (w <= 0) continue;
    chart.append(svg("rect", { x, y: 0, width: w, height, class: `seg ${part.cls}` }, title(`${part.label}: ${part.value}`)));
    x += w;
  }
  return chart;
}

/** Columns 0..1 (shares), one per entry [[label, share, detail]]. */
export function columns(entries, { label = "" } = {}) {
  const height = 120;
  const col = 24;
  const width = Math.max(200, entries.length * (col + 6) + 30);
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height + 20}`,
    class: "chart columns",
    role: "img",
    "aria-label": label,
    style: `max-width: ${width}px`,
  });
  chart.append(
    svg("line", { x1: 24, y1: height, x2: width, y2: height, class: "axis" }),
    svg("text", { x: 0, y: 10, class: "label" }, "100%"),
    svg("text", { x: 0, y: height, class: "label" }, "0%"),
  );
  entries.forEach(([name, share, detail], n) => {
    const h = height * Math.max(0, Math.min(1, share));
    const x = 30 + n * (col + 6);
    chart.append(
      svg("rect", { x, y: height - h, width: col, height: h, class: "bar" }, title(`${name}: ${Math.round(share * 100)}% cached${detail ? ` (${detail})` : ""}`)),
      svg("text", { x: x + col / 2, y: height + 14, "text-anchor": "middle", class: "label" }, name),
    );
  });
  return chart;
}
