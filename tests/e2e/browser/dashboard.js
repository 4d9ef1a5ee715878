// Dashboard test in headless Chromium (Debian's /usr/bin/chromium) with
// playwright-core: search a customer, open the 360 page, see orders and
// recommendations, the enterprise charts render, the pipeline page loads.
// Usage: node dashboard.js BASE_URL EMAIL_PREFIX ARTIFACT_DIR
"use strict";
const { chromium } = require("playwright-core");
const path = require("path");
const fs = require("fs");

const [base, prefix, artifacts] = process.argv.slice(2);
let passed = 0, failed = 0;
function check(cond, what) {
  if (cond) { passed++; console.log("ok   " + what); }
  else { failed++; console.log("FAIL " + what); }
}

(async () => {
  fs.mkdirSync(artifacts, { recursive: true });
  const profile = fs.mkdtempSync(path.join(artifacts, "profile-"));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1280, height: 1000 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", e => errors.push(String(e)));
  page.on("console", m => { if (m.type() === "error") errors.push(m.text()); });
  const shot = name => page.screenshot({ path: path.join(artifacts, name + ".png"), fullPage: true });
  try {
    // search
    await page.goto(base + "/", { waitUntil: "load" });
    await page.fill("[data-testid=search]", prefix);
    await page.waitForSelector(`tr.row[data-email^="${prefix}"]`, { timeout: 10000 });
    const rows = await page.$$eval("tr.row", trs => trs.map(t => t.dataset.email));
    check(rows.length >= 1 && rows.every(e => e.startsWith(prefix)), `search '${prefix}' lists matching customers (${rows.length})`);
    await shot("1-search");

    // the 360 page
    await page.click(`tr.row[data-email^="${prefix}"] td:nth-child(2)`);
    await page.waitForSelector("[data-testid=customer-name]", { timeout: 10000 });
    check(page.url().includes("#/customer/"), "clicking a result opens the 360 page");
    const email = await page.textContent("[data-testid=customer-email]");
    check(email.startsWith(prefix), "the 360 page shows the customer's email");
    const badges = await page.$$("[data-testid=badges] .badge");
    check(badges.length >= 1, `one badge per source system (${badges.length})`);
    const orders = await page.$$("[data-testid=order-row]");
    check(orders.length >= 1, `orders are listed (${orders.length})`);
    const recos = await page.$$eval("[data-testid=reco]", rs => rs.map(r => r.textContent));
    check(recos.length >= 1 && recos.every(t => t.includes("because you bought")), `recommendations with a reason (${recos.length})`);
    const html = await page.content();
    check(!/"pass"|edzchzmatv5/.test(html), "no source-system password on the page");
    await shot("2-customer360");

    // enterprise charts
    await page.click("nav a[data-nav=enterprise]");
    await page.waitForSelector("#chart-coverage", { timeout: 10000 });
    const count = async sel => (await page.$$(sel)).length;
    check(await count("#chart-coverage rect.bar") === 3, "coverage chart: one bar per source");
    check(await count("#chart-overlaps rect.bar") === 7, "overlaps chart: seven combinations");
    check(await count("#chart-revenue polyline.line") === 1 && await count("#chart-revenue circle.dot") >= 2, "revenue-per-month line chart");
    check(await count("#chart-points rect.bar") >= 5, "loyalty points histogram");
    check(await count("#chart-products rect.bar") >= 3, "top products chart");
    const heights = await page.$$eval("#chart-coverage rect.bar", rs => rs.map(r => Number(r.getAttribute("height"))));
    check(heights.every(h => h > 0), "coverage bars have a height");
    const customers = await page.textContent("[data-testid=stat-customers]");
    check(Number(customers.replace(/,/g, "")) > 0, `customers stat (${customers})`);
    await shot("3-enterprise");

    // pipeline
    await page.click("nav a[data-nav=pipeline]");
    await page.waitForSelector("[data-testid=buckets] td", { timeout: 10000 });
    const buckets = await page.$$eval("[data-testid=buckets] tbody tr td:first-child", tds => tds.map(t => t.textContent));
    check(buckets.includes("customer360"), "pipeline lists the buckets");
    check((await page.textContent("[data-testid=index-lag]")).startsWith("lag "), "pipeline shows the index lag");
    await shot("4-pipeline");

    // SQL
    await page.click("nav a[data-nav=sql]");
    await page.fill("[data-testid=sql]", "SELECT count(*) AS n FROM customer360");
    await page.click("#run");
    await page.waitForSelector("[data-testid=sql-out] td", { timeout: 10000 });
    check(Number(await page.textContent("[data-testid=sql-out] td")) > 0, "SQL page runs a read-only query");
    await shot("5-sql");

    check(errors.length === 0, "no JavaScript error" + (errors.length ? ": " + errors.join(" | ") : ""));
  } catch (e) {
    failed++;
    console.log("FAIL " + (e && e.stack || e));
    await shot("failure").catch(() => {});
  } finally {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})();
