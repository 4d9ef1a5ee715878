/* Plain-SVG charts for the dashboard (no library): bar, horizontal bar, line. */
"use strict";
const Charts = (() => {
  const esc = s => String(s).replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));
  const fmt = v => v >= 1e6 ? (v / 1e6).toFixed(1) + "M" : v >= 1e4 ? (v / 1e3).toFixed(0) + "k" : v >= 1e3 ? (v / 1e3).toFixed(1) + "k" : String(Math.round(v * 100) / 100);

  /* data: [{label, value}] → vertical bars */
  function bars(id, data, opts = {}) {
    const w = opts.width || 520, h = opts.height || 240, pl = 44, pb = opts.rotate ? 70 : 36, pt = 14;
    const max = Math.max(1, ...data.map(d => d.value));
    const bw = (w - pl - 10) / Math.max(1, data.length);
    let s = `<svg id="${esc(id)}" class="chart" viewBox="0 0 ${w} ${h}" width="100%" role="img" aria-label="${esc(opts.title || id)}">`;
    for (let i = 0; i <= 4; i++) {
      const y = pt + (h - pt - pb) * (1 - i / 4);
      s += `<line class="axis" x1="${pl}" x2="${w - 5}" y1="${y}" y2="${y}"/><text x="${pl - 6}" y="${y + 4}" text-anchor="end">${fmt(max * i / 4)}</text>`;
    }
    data.forEach((d, i) => {
      const bh = (h - pt - pb) * d.value / max, x = pl + i * bw + bw * 0.12, y = h - pb - bh;
      s += `<rect class="bar" x="${x}" y="${y}" width="${bw * 0.76}" height="${Math.max(bh, 0)}"><title>${esc(d.label)}: ${esc(d.value)}</title></rect>`;
      const lx = x + bw * 0.38, ly = h - pb + 14;
      s += opts.rotate ? `<text x="${lx}" y="${ly}" text-anchor="end" transform="rotate(-40 ${lx} ${ly})">${esc(d.label)}</text>`
                       : `<text x="${lx}" y="${ly}" text-anchor="middle">${esc(d.label)}</text>`;
    });
    return s + "</svg>";
  }

  /* data: [{label, value}] → horizontal bars (long labels) */
  function hbars(id, data, opts = {}) {
    const w = opts.width || 520, row = 24, pl = opts.labelWidth || 190, h = data.length * row + 10;
    const max = Math.max(1, ...data.map(d => d.value));
    let s = `<svg id="${esc(id)}" class="chart" viewBox="0 0 ${w} ${h}" width="100%" role="img" aria-label="${esc(opts.title || id)}">`;
    data.forEach((d, i) => {
      const y = 5 + i * row, bw = (w - pl - 70) * d.value / max;
      s += `<text x="${pl - 6}" y="${y + 15}" text-anchor="end">${esc(d.label)}</text>`;
      s += `<rect class="bar" x="${pl}" y="${y + 3}" width="${Math.max(bw, 1)}" height="${row - 8}"><title>${esc(d.label)}: ${esc(d.value)}</title></rect>`;
      s += `<text x="${pl + bw + 6}" y="${y + 15}">${esc(opts.format ? opts.format(d.value) : fmt(d.value))}</text>`;
    });
    return s + "</svg>";
  }

  /* data: [{label, value}] in order → line with dots */
  function line(id, data, opts = {}) {
    const w = opts.width || 520, h = opts.height || 240, pl = 52, pb = 50, pt = 14;
    const max = Math.max(1, ...data.map(d => d.value));
    const step = (w - pl - 14) / Math.max(1, data.length - 1);
    const pt_ = (d, i) => [pl + i * step, pt + (h - pt - pb) * (1 - d.value / max)];
    let s = `<svg id="${esc(id)}" class="chart" viewBox="0 0 ${w} ${h}" width="100%" role="img" aria-label="${esc(opts.title || id)}">`;
    for (let i = 0; i <= 4; i++) {
      const y = pt + (h - pt - pb) * (1 - i / 4);
      s += `<line class="axis" x1="${pl}" x2="${w - 5}" y1="${y}" y2="${y}"/><text x="${pl - 6}" y="${y + 4}" text-anchor="end">${fmt(max * i / 4)}</text>`;
    }
    if (data.length) s += `<polyline class="line" points="${data.map((d, i) => pt_(d, i).join(",")).join(" ")}"/>`;
    const every = Math.ceil(data.length / 12);
    data.forEach((d, i) => {
      const [x, y] = pt_(d, i);
      s += `<circle class="dot" cx="${x}" cy="${y}" r="3"><title>${esc(d.label)}: ${esc(fmt(d.value))}</title></circle>`;
      if (i % every === 0) s += `<text x="${x}" y="${h - pb + 14}" text-anchor="end" transform="rotate(-40 ${x} ${h - pb + 14})">${esc(d.label)}</text>`;
    });
    return s + "</svg>";
  }
  return { bars, hbars, line, esc, fmt };
})();
