// console.test.js - the office console in headless Chromium (run by run.sh,
// which seeds the stores, starts the processes and stops them).
// Environment: CHROMIUM, LINK (the console's one-time link), VELD,
// DEVICE_STORE (a phone's store, for its next sync), CLIENT, SCREENSHOT.
"use strict";
const puppeteer = require("puppeteer-core");
const { execFileSync } = require("child_process");
const http = require("http");

const env = process.env;
const base = new URL(env.LINK).origin;
let passed = 0, failed = 0;

function check(what, ok, detail) {
  if (ok) { passed++; console.log("ok - " + what); }
  else { failed++; console.log("FAIL - " + what + (detail ? ": " + detail : "")); }
}

function device(args) {
  return execFileSync(env.VELD, ["--store", env.DEVICE_STORE, "--user", "anna"].concat(args),
    { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

async function show(page, view) {
  await page.evaluate((v) => { location.hash = "#" + v; }, view);
  await page.waitForSelector(`main[data-ready="${view.split("/")[0]}"]`, { timeout: 60000 });
}

async function main() {
  const browser = await puppeteer.launch({
    executablePath: env.CHROMIUM, headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage"],
  });
  try {
    // A stranger's browser, without the link's token: refused.
    const stranger = await browser.createBrowserContext();
    const sp = await stranger.newPage();
    let r = await sp.goto(base + "/", { waitUntil: "load" });
    check("a page without the one-time link's token is refused", r.status() === 401, r.status());
    r = await sp.goto(base + "/api/signals");
    check("the API without a session is refused", r.status() === 401, r.status());

    // The office's browser opens the link.
    const ctx = await browser.createBrowserContext();
    const page = await ctx.newPage();
    page.setDefaultTimeout(60000);
    await page.setViewport({ width: 1200, height: 900 });
    const errors = [];
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("requestfailed", (q) => errors.push("request failed: " + q.url()));
    r = await page.goto(env.LINK, { waitUntil: "load" });
    check("the link opens the console", r.status() === 200, r.status());
    check("the token is gone from the address", !page.url().includes("token="), page.url());
    check("the session's key is gone from the address", !page.url().includes("key="), page.url());
    await page.waitForSelector('main[data-ready="signals"]');
    if (env.SHOTS) await page.screenshot({ path: env.SHOTS + "/signals.png" });
    const sev = await page.$$eval("tr[data-severity]", (rows) => rows.map((x) => x.dataset.severity));
    check("the high open signal is listed first", sev[0] === "high", sev.join(","));
    check("then medium, then low", sev.join(",") === "high,medium,low", sev.join(","));

    // The link is spent: another browser gets nothing with it.
    const late = await browser.createBrowserContext();
    r = await (await late.newPage()).goto(env.LINK);
    check("the one-time link works once", r.status() === 403, r.status());
    await late.close();

    // Another local user's server on another port of 127.0.0.1: the browser
    // sends it the console's cookie (a cookie is not bound to a port), and a
    // request the console gets from its page is refused.
    const seen = [];
    const other = http.createServer((q, res) => {
      seen.push(q.headers.cookie || "");
      res.setHeader("Content-Type", "text/html");
      res.end(q.url === "/" ? `<a id="go" href="${base}/#client/${env.CLIENT}">x</a>` : "");
    });
    await new Promise((ok) => other.listen(0, "127.0.0.1", ok));
    const otherPage = await ctx.newPage();
    await otherPage.goto(`http://127.0.0.1:${other.address().port}/`);
    await otherPage.evaluate(() => fetch("/again", { credentials: "include" }));
    other.close();
    const stolen = (seen.join("; ").match(/veld_console=[0-9a-f]{64}/) || [""])[0];
    check("(the other port got the console's cookie)", stolen !== "", seen.join(" | "));
    const asked = await Promise.all(["/api/session", "/api/clients"].map((p) =>
      fetch(base + p, { headers: { cookie: stolen } }).then((a) => a.status)));
    check("the console's cookie alone opens no API", asked.every((st) => st === 403), asked.join(","));
    const [nav] = await Promise.all([otherPage.waitForNavigation(), otherPage.click("#go")]);
    check("a page of another port of this host is not answered", nav.status() === 403, nav.status());
    await otherPage.close();

    // One client: the ZRM progress chart (uPlot draws a canvas).
    await show(page, "client/" + env.CLIENT);
    if (env.SHOTS) await page.screenshot({ path: env.SHOTS + "/client.png", fullPage: true });
    check("the client's ZRM progress chart is drawn",
      (await page.$$("#progress-chart canvas")).length > 0);

    // Conflicts: resolve on the page; the phone's next sync clears it.
    const before = JSON.parse(device(["conflicts", "--json"]));
    check("the phone has the conflict before", before.length === 1, before.length);
    await show(page, "conflicts");
    if (env.SHOTS) await page.screenshot({ path: env.SHOTS + "/conflicts.png" });
    const cards = await page.$$("section.conflict .keep");
    check("the conflict is shown side by side", cards.length === 2, cards.length);
    await cards[0].click();
    await page.waitForSelector("#no-conflicts");
    const msg = await page.$eval("#status", (e) => e.textContent);
    check("resolving syncs the office", /gesynchroniseerd|synced/i.test(msg) &&
      !/lukte niet|failed/i.test(msg), msg);
    device(["sync"]);
    const after = JSON.parse(device(["conflicts", "--json"]));
    check("resolving on the page clears it at the phone's next sync", after.length === 0,
      JSON.stringify(after).length);

    // The team list: the due list per worker, then each worker's caseload
    // with the last contact as the due list counts it (the home visit of
    // 2026-11-01; the one of 2026-09-01 is older).
    await show(page, "due/team=noord&days=14");
    const teamPage = await page.$eval("main", (m) => m.textContent);
    check("the caseload shows the client's last contact", teamPage.includes("2026-11-01") &&
      !teamPage.includes("2026-09-01"), teamPage.slice(0, 300));

    // The dashboard: charts, no console error, a screenshot.
    await show(page, "dashboard");
    const charts = (await page.$$(".chart canvas")).length;
    check("the dashboard draws its charts", charts > 0, charts);
    await page.screenshot({ path: env.SCREENSHOT, fullPage: true });
    console.log("screenshot: " + env.SCREENSHOT);

    // English is there too.
    await page.click("#lang");
    await page.waitForSelector('main[data-ready="dashboard"]');
    check("English is available", (await page.$eval("nav", (n) => n.textContent)).includes("Signals"));
    check("no console error on any page", errors.length === 0, errors.join(" | "));
  } finally {
    await browser.close();
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

main().catch((e) => { console.log("FAIL - " + e.stack); console.log(`${passed} passed, ${failed + 1} failed`); process.exit(1); });
