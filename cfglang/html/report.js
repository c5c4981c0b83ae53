"use strict";
// Draws the charts of an amct sensitivity report from the JSON in #report-data. Every text taken
// from the report goes in through textContent or setAttribute, never as markup. When everything is
// drawn, the body's data-charts is "drawn" and data-drawn counts the charts; an error anywhere sets its
// data-errors (the browser test reads them).
(function () {
  const body = document.body;
  const errors = [];
  window.addEventListener("error", function (event) {
    errors.push(String(event.message));
    body.dataset.errors = String(errors.length);
    const list = document.getElementById("errors");
    if (list) {
      list.hidden = false;
      list.textContent = errors.join("\n");
    }
  });

  const SVG = "http://www.w3.org/2000/svg";
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const layers = data.layers;
  let drawn = 0;

  function node(name, attrs, parent) {
    const made = document.createElementNS(SVG, name);
    for (const key of Object.keys(attrs)) {
      made.setAttribute(key, String(attrs[key]));
    }
    if (parent) {
      parent.appendChild(made);
    }
    return made;
  }

  function label(parent, x, y, content, cls, anchor) {
    const made = node("text", { x: x, y: y, class: cls || "", "text-anchor": anchor || "start" }, parent);
    made.textContent = content;
    return made;
  }

  function tooltip(parent, content) {
    node("title", {}, parent).textContent = content;
  }

  function db(value) {
    return value === null ? "\u221e" : value.toFixed(1);
  }

  function shortName(name, room) {
    return name.length <= room ? name : "\u2026" + name.slice(name.length - room + 1);
  }

  // empty the chart and give it its size
  function start(svg, width, height) {
    while (svg.firstChild) {
      svg.removeChild(svg.firstChild);
    }
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute("width", String(width));
    svg.setAttribute("height", String(height));
  }

  // one row per layer: its isolated sensitivity, its weight SQNR and its clipped share as bars
  const COLUMNS = [
    { title: data.sensitivity_title, cls: "bar-sensitivity", value: (l) => Math.max(l.sensitivity, 0),
      text: (l) => l.sensitivity.toExponential(2), full: false },
    { title: "weight SQNR (dB)", cls: "bar-weight", value: (l) => l.weight_sqnr_db,
      text: (l) => (l.has_weight ? db(l.weight_sqnr_db) : "-"), full: true },
    { title: "activation values clipped (%)", cls: "bar-clipped", value: (l) => l.clipped_share,
      text: (l) => (l.clipped_share === null ? "-" : (100 * l.clipped_share).toFixed(3)), full: false },
  ];

  function drawRows(svg, order) {
    const rowHeight = 18;
    const top = 30;
    const nameWidth = 330;
    const columnWidth = 230;
    const gap = 20;
    const width = nameWidth + COLUMNS.length * (columnWidth + gap);
    start(svg, width, top + rowHeight * order.length + 6);
    COLUMNS.forEach(function (column, c) {
      const x0 = nameWidth + c * (columnWidth + gap);
      label(svg, x0, 16, column.title, "axis-title");
      let largest = 0;
      for (const l of layers) {
        const v = column.value(l);
        if (v !== null && v > largest) {
          largest = v;
        }
      }
      column.largest = largest;
      column.scale = largest > 0 ? (columnWidth - 70) / largest : 0;
      column.x0 = x0;
    });
    order.forEach(function (index, row) {
      const l = layers[index];
      const y = top + row * rowHeight;
      const link = node("a", { href: "#layer-" + index, class: "row" }, svg);
      node("rect", { x: 0, y: y, width: width, height: rowHeight, class: row % 2 ? "stripe odd" : "stripe" }, link);
      label(link, nameWidth - 8, y + 13, shortName(l.name, 44), "row-name", "end");
      tooltip(link, l.name + " (" + l.type + ")");
      for (const column of COLUMNS) {
        const v = column.value(l);
        const length = (v === null ? (column.full ? column.largest : 0) : v) * column.scale;
        node("rect", { x: column.x0, y: y + 3, width: Math.max(length, 0.5), height: rowHeight - 6,
                       class: column.cls }, link);
        label(link, column.x0 + length + 4, y + 13, column.text(l), "bar-value");
      }
    });
    drawn += 1;
  }

  // the output SQNR along the network: with every layer up to it quantized, and with it alone quantized
  function drawAlong(svg) {
    const width = 1060;
    const height = 260;
    start(svg, width, height);
    const [left, right, top, bottom] = [50, 16, 24, 40];
    const series = [
      { key: "cumulative_sqnr_db", cls: "line-cumulative",
        title: "this layer's output, everything up to it quantized" },
      { key: "isolated_sqnr_db", cls: "line-isolated", title: "model output, only this layer quantized" },
    ];
    const values = [];
    for (const s of series) {
      for (const l of layers) {
        if (l[s.key] !== null) {
          values.push(l[s.key]);
        }
      }
    }
    let low = values.length ? Math.min.apply(null, values) : 0;
    let high = values.length ? Math.max.apply(null, values) : 1;
    if (high - low < 1) {
      high += 0.5;
      low -= 0.5;
    }
    const x = (i) => left + (layers.length > 1 ? (i * (width - left - right)) / (layers.length - 1) : 0);
    const y = (v) => top + ((high - v) * (height - top - bottom)) / (high - low);
    for (let t = 0; t <= 4; t++) {
      const v = low + ((high - low) * t) / 4;
      node("line", { x1: left, x2: width - right, y1: y(v), y2: y(v), class: "grid" }, svg);
      label(svg, left - 6, y(v) + 4, v.toFixed(1), "tick", "end");
    }
    label(svg, left, height - 8, "quantized layers in execution order \u2192", "axis-title");
    label(svg, 14, top - 8, "SQNR (dB)", "axis-title");
    series.forEach(function (s, k) {
      let path = "";
      layers.forEach(function (l, i) {
        if (l[s.key] !== null) {
          path += (path ? " L " : "M ") + x(i).toFixed(1) + " " + y(l[s.key]).toFixed(1);
        }
      });
      node("path", { d: path || "M 0 0", class: s.cls }, svg);
      layers.forEach(function (l, i) {
        if (l[s.key] !== null) {
          const dot = node("circle", { cx: x(i), cy: y(l[s.key]), r: 3, class: s.cls + " dot" }, svg);
          tooltip(dot, l.name + ": " + db(l[s.key]) + " dB");
        }
      });
      const lx = width - right - 360;
      node("rect", { x: lx, y: top + 4 + k * 16, width: 12, height: 4, class: s.cls + " key" }, svg);
      label(svg, lx + 18, top + 10 + k * 16, s.title, "legend");
    });
    drawn += 1;
  }

  // the observed activation values, the chosen clip range drawn over them
  function drawHistogram(svg, l) {
    const width = 420;
    const height = 130;
    start(svg, width, height);
    const [top, bottom, side] = [8, 34, 10];
    const h = l.histogram;
    const edges = h.edges;
    let low = edges[0];
    let high = edges[edges.length - 1];
    for (const v of [l.clip_min, l.clip_max]) {
      if (v !== null) {
        low = Math.min(low, v);
        high = Math.max(high, v);
      }
    }
    const span = high > low ? high - low : 1;
    const x = (v) => side + ((v - low) * (width - 2 * side)) / span;
    const most = Math.max.apply(null, h.counts.concat([1]));
    const base = height - bottom;
    h.counts.forEach(function (count, i) {
      const barHeight = (count * (base - top)) / most;
      const barWidth = Math.max(x(edges[i + 1]) - x(edges[i]), 0.5);
      const bar = node("rect", { x: x(edges[i]), y: base - barHeight, width: barWidth, height: barHeight,
                                 class: "hist-bar" }, svg);
      tooltip(bar, "[" + edges[i].toPrecision(4) + ", " + edges[i + 1].toPrecision(4) + "): " + count);
    });
    node("line", { x1: side, x2: width - side, y1: base, y2: base, class: "axis" }, svg);
    if (l.clip_min !== null && l.clip_max !== null) {
      node("rect", { x: side, y: top, width: Math.max(x(l.clip_min) - side, 0), height: base - top,
                     class: "clipped-zone" }, svg);
      node("rect", { x: x(l.clip_max), y: top, width: Math.max(width - side - x(l.clip_max), 0), height: base - top,
                     class: "clipped-zone" }, svg);
      for (const v of [l.clip_min, l.clip_max]) {
        node("line", { x1: x(v), x2: x(v), y1: top, y2: base, class: "clip-line" }, svg);
      }
      // the labels stay inside the chart even when the clip range reaches its edge
      const inside = (v) => Math.min(Math.max(x(v), side + 24), width - side - 24);
      label(svg, inside(l.clip_min), base + 14, l.clip_min.toPrecision(4), "tick clip", "middle");
      label(svg, inside(l.clip_max), base + 14, l.clip_max.toPrecision(4), "tick clip", "middle");
    }
    label(svg, side, height - 4, "observed [" + edges[0].toPrecision(4) + ", " + edges[edges.length - 1].toPrecision(4) +
          "], clip range dashed", "legend");
    drawn += 1;
  }

  const rows = document.getElementById("chart-layers");
  let order = data.order.execution;
  drawRows(rows, order);
  for (const button of document.querySelectorAll("button[data-order]")) {
    button.addEventListener("click", function () {
      order = data.order[button.dataset.order];
      for (const other of document.querySelectorAll("button[data-order]")) {
        other.setAttribute("aria-pressed", String(other === button));
      }
      drawRows(rows, order);
    });
  }
  drawAlong(document.getElementById("chart-along"));
  for (const svg of document.querySelectorAll("svg.histogram")) {
    drawHistogram(svg, layers[Number(svg.dataset.layer)]);
  }
  body.dataset.drawn = String(drawn);
  body.dataset.charts = "drawn";
})();
