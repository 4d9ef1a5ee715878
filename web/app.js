/* c360 dashboard: customer search and 360 page, enterprise charts, pipeline
 * and SQL pages over /api/v1. Hash routes: #/, #/customer/EMAIL,
 * #/enterprise, #/pipeline, #/sql. A token (when the API needs one) is kept in
 * localStorage and sent as a bearer token. */
"use strict";
const $ = sel => document.querySelector(sel);
const esc = Charts.esc;
const SYSTEMS = { home_delivery: "Home delivery", loyalty: "Loyalty", online_store: "Online store" };
const main = () => $("#main");

class ApiError extends Error {
  constructor(status, body) { super(body && body.message || ("HTTP " + status)); this.status = status; this.body = body; }
}

async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  const tok = localStorage.getItem("c360.token");
  if (tok) headers["Authorization"] = "Bearer " + tok;
  const r = await fetch("/api/v1" + path, Object.assign({}, opts, { headers }));
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (r.status === 401) $("#token-form").hidden = false;
  if (!r.ok) throw new ApiError(r.status, body);
  return body;
}

function showError(e) {
  const msg = e instanceof ApiError ? `${e.status} ${e.body ? e.body.error + ": " + e.body.message : e.message}` : String(e);
  main().innerHTML = `<div class="error" data-testid="error">${esc(msg)}</div>`;
}

const money = v => "$" + Number(v).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const badge = (sys, id) => `<span class="badge ${esc(sys)}" data-testid="badge-${esc(sys)}" title="${esc(SYSTEMS[sys] || sys)}">${esc(SYSTEMS[sys] || sys)} · ${esc(id)}</span>`;

/* ---- customer search ---- */

let searchTimer = null;
function renderSearch(q) {
  main().innerHTML = `
    <h1>Customers</h1>
    <div class="card">
      <input type="search" id="q" data-testid="search" placeholder="Search by email or name prefix, e.g. matthew or groves" value="${esc(q || "")}" autofocus>
      <p class="muted" style="margin:8px 0 0">Or look up a source record: <select id="sys">${Object.keys(SYSTEMS).map(s => `<option value="${s}">${SYSTEMS[s]}</option>`).join("")}</select>
      <input type="text" id="extid" placeholder="external id" size="10"> <button id="lookup">Find</button></p>
    </div>
    <div class="card"><div id="results" data-testid="results"></div></div>`;
  const run = () => doSearch($("#q").value.trim());
  $("#q").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(run, 200); });
  $("#lookup").addEventListener("click", () => doLookup($("#sys").value, $("#extid").value.trim()));
  run();
}

function resultsTable(res) {
  if (!res.customers.length) return `<p class="muted">No customer matches.</p>`;
  return `<p class="muted">${res.total} customer${res.total === 1 ? "" : "s"}${res.total > res.customers.length ? `, showing ${res.customers.length}` : ""}</p>
    <table><thead><tr><th>Email</th><th>Name</th><th>City</th><th>Sources</th><th class="num">Points</th><th class="num">Orders</th></tr></thead><tbody>
    ${res.customers.map(c => `<tr class="row" data-email="${esc(c.email)}"><td><a href="#/customer/${encodeURIComponent(c.email)}">${esc(c.email)}</a></td>
      <td>${esc(c.name || "")}</td><td>${esc(c.city || "")}</td>
      <td>${Object.entries(c.systems).map(([s, id]) => badge(s, id)).join("")}</td>
      <td class="num">${c.loyaltyPoints == null ? "" : c.loyaltyPoints}</td><td class="num">${c.orders}</td></tr>`).join("")}
    </tbody></table>`;
}

function wireRows() {
  document.querySelectorAll("tr.row").forEach(tr => tr.addEventListener("click", ev => {
    if (ev.target.tagName !== "A") location.hash = "#/customer/" + encodeURIComponent(tr.dataset.email);
  }));
}

async function doSearch(q) {
  try {
    const res = await api("/customers?limit=50" + (q ? "&q=" + encodeURIComponent(q) : ""));
    $("#results").innerHTML = resultsTable(res);
    wireRows();
  } catch (e) { $("#results").innerHTML = `<div class="error">${esc(e.message)}</div>`; }
}

async function doLookup(sys, id) {
  if (!id) return;
  try {
    const res = await api(`/customers?system=${encodeURIComponent(sys)}&id=${encodeURIComponent(id)}`);
    $("#results").innerHTML = resultsTable(res);
    wireRows();
  } catch (e) { $("#results").innerHTML = `<div class="error">${esc(e.message)}</div>`; }
}

/* ---- the 360 page ---- */

async function renderCustomer(email) {
  main().innerHTML = `<p class="muted">Loading ${esc(email)}…</p>`;
  let c, recs;
  try {
    [c, recs] = await Promise.all([
      api("/customers/" + encodeURIComponent(email)),
      api("/customers/" + encodeURIComponent(email) + "/recommendations?limit=5"),
    ]);
  } catch (e) { return showError(e); }
  const doc = c.customer || {}, p = doc.profile || {};
  const pts = doc.loyaltyPoints != null ? doc.loyaltyPoints : p.loyaltyPoints;
  const xrefs = doc.xrefs || [];
  const fields = ["name", "address1", "address2", "city", "state", "zipcode", "phone"].filter(k => p[k] != null);
  const orders = c.orders || [];
  const total = orders.reduce((s, o) => s + (o.doc.Items || []).reduce((t, it) => t + (it.Quantity || 0) * (it.Price || 0), 0), 0);
  main().innerHTML = `
    <h1 data-testid="customer-name">${esc(p.name || email)}</h1>
    <p class="muted" data-testid="customer-email">${esc(c.email)}</p>
    <div class="stats">
      <div class="card"><div class="muted">Loyalty points</div><div class="big" data-testid="points">${pts == null ? "—" : esc(pts)}</div></div>
      <div class="card"><div class="muted">Orders</div><div class="big" data-testid="order-count">${c.orders_total}</div></div>
      <div class="card"><div class="muted">Spent (shown orders)</div><div class="big">${money(total)}</div></div>
      <div class="card"><div class="muted">Source systems</div><div class="big">${xrefs.length}</div></div>
    </div>
    <div class="grid">
      <div class="card"><h2>Profile</h2>
        <dl class="kv">${fields.map(k => `<dt>${esc(k)}</dt><dd>${esc(p[k])}</dd>`).join("")}</dl>
        <h2 style="margin-top:14px">Sources</h2>
        <div data-testid="badges">${xrefs.map(x => badge(x.external_system, x.external_ID)).join("") || '<span class="muted">none</span>'}</div>
      </div>
      <div class="card" data-testid="recommendations"><h2>Recommended for this customer</h2>
        ${recs.recommendations.length ? recs.recommendations.map(r => `<div class="reco" data-testid="reco"><span><b>${esc(r.name)}</b><br><span class="muted">${esc(r.reason)}</span></span><span class="muted">score ${r.score.toFixed(2)}</span></div>`).join("")
          : '<p class="muted">No recommendation yet: this customer has no order, or nobody bought the same items.</p>'}
      </div>
    </div>
    <div class="card" data-testid="orders"><h2>Orders</h2>
      ${orders.length ? `<table><thead><tr><th>Order</th><th>Date</th><th>Items</th><th class="num">Total</th></tr></thead><tbody>
      ${orders.map(o => { const items = o.doc.Items || []; const t = items.reduce((s, it) => s + (it.Quantity || 0) * (it.Price || 0), 0);
        return `<tr data-testid="order-row"><td>${esc(o.doc.OrderId != null ? o.doc.OrderId : o.key)}</td><td>${esc((o.doc.PurchaseDate || "").slice(0, 19).replace("T", " "))}</td>
        <td>${items.map(it => `${esc(it.Quantity)} × ${esc((c.products || {})[it.ProductId] || "product " + it.ProductId)} @ ${money(it.Price || 0)}`).join("<br>")}</td><td class="num">${money(t)}</td></tr>`; }).join("")}
      </tbody></table>${c.orders_total > orders.length ? `<p class="muted">${c.orders_total - orders.length} older orders not shown</p>` : ""}`
      : '<p class="muted">No order.</p>'}
    </div>`;
}

/* ---- enterprise ---- */

async function renderEnterprise() {
  main().innerHTML = `<p class="muted">Loading…</p>`;
  let s;
  try { s = await api("/customer360/stats?top=10"); } catch (e) { return showError(e); }
  const cov = Object.entries(s.coverage).map(([k, v]) => ({ label: SYSTEMS[k] || k, value: v }));
  const short = { home_delivery: "HD", loyalty: "LY", online_store: "OS" };
  const ov = s.overlaps.map(o => ({ label: o.systems.map(x => short[x]).join("+"), value: o.customers }));
  const months = s.months.map(m => ({ label: m.month, value: m.revenue }));
  const pts = s.loyalty_points.buckets.map(b => ({ label: b.to == null ? b.from + "+" : b.from + "–" + b.to, value: b.customers }));
  const top = s.top_products.map(p => ({ label: p.name, value: p.revenue }));
  main().innerHTML = `
    <h1>Enterprise</h1>
    <div class="stats">
      <div class="card"><div class="muted">Customers</div><div class="big" data-testid="stat-customers">${s.customers.toLocaleString()}</div></div>
      <div class="card"><div class="muted">Orders</div><div class="big">${s.orders.toLocaleString()}</div></div>
      <div class="card"><div class="muted">Revenue</div><div class="big">${money(s.revenue)}</div></div>
      <div class="card"><div class="muted">Loyalty members (avg points)</div><div class="big">${s.loyalty_points.members.toLocaleString()} <span class="muted" style="font-size:16px">(${s.loyalty_points.average})</span></div></div>
    </div>
    <div class="grid">
      <div class="card"><h2>Coverage per source</h2>${Charts.bars("chart-coverage", cov, { title: "customers per source system" })}</div>
      <div class="card"><h2>Overlaps (customers in exactly these sources)</h2>${Charts.bars("chart-overlaps", ov, { title: "source overlaps" })}
        <p class="muted">HD home delivery · LY loyalty · OS online store</p></div>
      <div class="card"><h2>Revenue per month</h2>${Charts.line("chart-revenue", months, { title: "revenue per month" })}</div>
      <div class="card"><h2>Loyalty points distribution</h2>${Charts.bars("chart-points", pts, { rotate: true, title: "loyalty points histogram" })}</div>
      <div class="card"><h2>Top products by revenue</h2>${Charts.hbars("chart-products", top, { format: money, title: "top products" })}</div>
    </div>`;
}

/* ---- pipeline ---- */

async function renderPipeline() {
  main().innerHTML = `<p class="muted">Loading…</p>`;
  let p;
  try { p = await api("/pipeline"); } catch (e) { return showError(e); }
  const meta = p.meta && p.meta.rows ? p.meta.rows : [];
  const group = prefix => meta.filter(r => String(r[0]).startsWith(prefix));
  const metaTable = (title, rows, testid) => `<div class="card" data-testid="${testid}"><h2>${title}</h2>${rows.length ?
    rows.map(r => `<details><summary>${esc(r[0])}${r[1] && (r[1].status || r[1].state) ? ` — <b>${esc(r[1].status || r[1].state)}</b>` : ""}</summary><pre>${esc(JSON.stringify(r[1], null, 2))}</pre></details>`).join("")
    : '<p class="muted">none yet</p>'}</div>`;
  main().innerHTML = `
    <h1>Pipeline</h1>
    <div class="stats">
      <div class="card"><div class="muted">Index of '${esc(p.index.bucket)}'</div><div class="big" data-testid="index-lag">lag ${p.index.lag}</div><div class="muted">seqno ${p.index.applied_seqno} / ${p.index.high_seqno}</div></div>
      <div class="card"><div class="muted">Polled online-store customers</div><div class="big">${p.polled_customers && p.polled_customers.rows ? p.polled_customers.rows[0][0] : "—"}</div></div>
      <div class="card"><div class="muted">Dead letters</div><div class="big" data-testid="dead-letters">${p.dead_letters.reduce((s, b) => s + b.count, 0)}</div></div>
    </div>
    <div class="card" data-testid="functions"><h2>Functions</h2>${(p.functions || []).length ? `
      <table><thead><tr><th>Function</th><th>State</th><th>Kind</th><th>Source</th><th class="num">Checkpoint</th><th class="num">Backlog</th><th class="num">Lag (s)</th><th class="num">Processed</th><th class="num">Errors</th><th class="num">Timeouts</th></tr></thead><tbody>
      ${p.functions.map(f => { const st = f.stats || {}; return `<tr><td>${esc(f.name)}</td><td>${esc(f.state || "")}</td><td>${esc(f.kind || "")}</td><td>${esc(f.source_bucket || "")}</td>
        <td class="num">${esc(f.checkpoint != null ? f.checkpoint : "")}</td><td class="num">${esc(f.backlog != null ? f.backlog : "")}</td><td class="num">${esc(f.lag_seconds != null ? f.lag_seconds : "")}</td>
        <td class="num">${esc(st.processed != null ? st.processed : "")}</td><td class="num">${esc(st.failures != null ? st.failures : "")}</td><td class="num">${esc(st.timeouts != null ? st.timeouts : "")}</td></tr>`; }).join("")}
      </tbody></table>` : '<p class="muted">no function deployed</p>'}</div>
    <div class="card" data-testid="buckets"><h2>Buckets</h2>
      <table><thead><tr><th>Bucket</th><th class="num">Documents</th><th class="num">Bytes</th><th class="num">Max TTL</th><th class="num">High seqno</th></tr></thead><tbody>
      ${p.buckets.map(b => `<tr><td>${esc(b.name)}</td><td class="num">${b.count.toLocaleString()}</td><td class="num">${b.bytes.toLocaleString()}</td><td class="num">${b.max_ttl || ""}</td><td class="num">${b.high_seqno.toLocaleString()}</td></tr>`).join("")}
      </tbody></table></div>
    <div class="grid">
      ${metaTable("Sources (Kafka connectors)", group("connector::"), "connectors")}
      ${metaTable("Function records", group("function::"), "function-records")}
      ${metaTable("CSV imports", group("import::"), "imports")}
      ${metaTable("Other metadata", meta.filter(r => !/^(connector|function|import)::/.test(r[0])), "other-meta")}
    </div>`;
}

/* ---- SQL ---- */

function renderSql() {
  main().innerHTML = `
    <h1>Read-only SQL</h1>
    <div class="card">
      <textarea id="sql" data-testid="sql">SELECT key, json_extract(doc, '$.profile.name') AS name FROM customer360 WHERE key NOT LIKE 'order::%' AND key NOT LIKE 'product::%' LIMIT 20</textarea>
      <p><button id="run">Run</button> <span class="muted">each bucket is a table (key, doc, cas, expiry, seqno); SQLite JSON functions work</span></p>
    </div>
    <div class="card"><div id="sql-out" data-testid="sql-out"></div></div>`;
  $("#run").addEventListener("click", async () => {
    try {
      const r = await api("/query", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ sql: $("#sql").value, max_rows: 500 }) });
      $("#sql-out").innerHTML = `<table><thead><tr>${r.columns.map(c => `<th>${esc(c)}</th>`).join("")}</tr></thead><tbody>
        ${r.rows.map(row => `<tr>${row.map(v => `<td>${esc(typeof v === "object" && v !== null ? JSON.stringify(v) : v)}</td>`).join("")}</tr>`).join("")}</tbody></table>
        ${r.truncated ? '<p class="muted">truncated</p>' : ""}`;
    } catch (e) { $("#sql-out").innerHTML = `<div class="error">${esc(e.message)}</div>`; }
  });
}

/* ---- router ---- */

function route() {
  const h = location.hash || "#/";
  document.querySelectorAll("nav a").forEach(a => a.classList.toggle("active",
    h.startsWith("#/" + a.dataset.nav) || (a.dataset.nav === "search" && (h === "#/" || h.startsWith("#/customer")))));
  if (h.startsWith("#/customer/")) return renderCustomer(decodeURIComponent(h.slice(11)));
  if (h.startsWith("#/enterprise")) return renderEnterprise();
  if (h.startsWith("#/pipeline")) return renderPipeline();
  if (h.startsWith("#/sql")) return renderSql();
  const q = h.startsWith("#/?q=") ? decodeURIComponent(h.slice(5)) : "";
  return renderSearch(q);
}

$("#token-form").addEventListener("submit", ev => {
  ev.preventDefault();
  localStorage.setItem("c360.token", $("#token-input").value.trim());
  $("#token-form").hidden = true;
  route();
});
window.addEventListener("hashchange", route);
route();
