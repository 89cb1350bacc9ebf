// Every page of the site in the system's Chromium, driven by playwright-core, at each width given:
// what it asks of other hosts (refused, and listed), policy violations, console errors, axe-core
// violations, horizontal overflow, a full-page screenshot and the HTML the server sent.
// Usage: node pages.mjs SPEC.json — SPEC holds {base, shots, html, widths, axe, organisers, pages}
// (tests/browser/test_pages.py writes it from site.py). Prints one JSON report on its last line of output.
import { launch } from "./launch.mjs";
import { readFile, writeFile, mkdir } from "node:fs/promises";
import path from "node:path";

const spec = JSON.parse(await readFile(process.argv[2], "utf8"));
const origin = new URL(spec.base).origin;
const axeSource = await readFile(spec.axe, "utf8");
const STEP = 20000; // any one navigation, click or wait
await mkdir(spec.shots, { recursive: true });
await mkdir(spec.html, { recursive: true });

const browser = await launch({ timeout: STEP });

const visits = new Map(); // each open page's report: the context's watchers write into it
const visitOf = (page) => visits.get(page);

async function newContext(javaScriptEnabled = true) {
  const context = await browser.newContext({ locale: "fr-FR", javaScriptEnabled });
  context.setDefaultTimeout(STEP);
  // Nothing leaves this machine: a request to any other host is refused, and written down.
  await context.route((url) => url.origin !== origin, (route) => {
    const request = route.request();
    const page = request.frame()?.page();
    const visit = page && visitOf(page);
    if (visit) visit.foreign.push(request.url());
    else orphans.push(request.url());
    return route.abort("blockedbyclient");
  });
  await context.exposeBinding("__petitionPolicyViolation", ({ page }, text) => {
    const visit = visitOf(page);
    if (visit) visit.csp.push(text);
    else orphans.push(text);
  });
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      globalThis.__petitionPolicyViolation(
        `${e.violatedDirective} blocked ${e.blockedURI || "(inline)"} at ${e.sourceFile}:${e.lineNumber}`);
    });
  });
  return context;
}

async function signIn(context, who) {
  const page = await context.newPage();
  await page.goto(`${spec.base}/organiser/login`);
  await page.fill("#email", who.email);
  await page.fill("#password", who.password);
  if (who.code) await page.fill("#code", who.code);
  await Promise.all([page.waitForURL((url) => url.pathname === "/dashboard"), page.click("form[action='/organiser/login'] button[type=submit]")]);
  await page.close();
}

const orphans = []; // what no visit can own (a worker's request): reported, never lost
// The English pages have a context of their own: ?lang=en leaves a cookie the others must not see.
const contexts = { public: await newContext(), english: await newContext() };
for (const [name, who] of Object.entries(spec.organisers)) {
  contexts[name] = await newContext();
  await signIn(contexts[name], who);
}

async function settle(page) {
  await page.waitForLoadState("load");
  // Scripts run, fonts load, the live count connects: then the page is as a person sees it.
  await page.evaluate(() => document.fonts.ready.then(() => new Promise((r) => setTimeout(r, 250))));
}

async function check(page, entry, width, response) {
  const report = visitOf(page);
  report.status = response ? response.status() : null;
  report.url = page.url();
  report.title = await page.title();
  Object.assign(report, await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    widest: [...document.querySelectorAll("body *")]
      .map((e) => ({ e, right: e.getBoundingClientRect().right }))
      .filter(({ right }) => right > window.innerWidth + 0.5)
      .slice(0, 5)
      .map(({ e, right }) => `${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""}${e.className && typeof e.className === "string" ? "." + e.className.trim().split(/\s+/).join(".") : ""} right=${Math.round(right)}`),
  })));
  // Where what a person must see first lies (before any scrolling: the page as it opened), and
  // what has the focus.
  report.fold = await page.evaluate((selectors) => Object.fromEntries(selectors.map((s) => {
    const e = document.querySelector(s);
    if (!e) return [s, null];
    const box = e.getBoundingClientRect();
    return [s, { top: Math.round(box.top), bottom: Math.round(box.bottom) }];
  })), entry.fold || []);
  report.viewportHeight = await page.evaluate(() => window.innerHeight);
  report.focused = await page.evaluate(() => {
    const e = document.activeElement;
    return e ? `${e.tagName.toLowerCase()}${e.className && typeof e.className === "string" ? "." + e.className.trim().split(/\s+/).join(".") : ""}` : null;
  });
  await page.evaluate(axeSource);
  const axe = await page.evaluate(() => globalThis.axe.run(document, { resultTypes: ["violations"] }));
  report.axeRules = axe.passes.length + axe.violations.length + axe.incomplete.length;
  report.axe = axe.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(" ")).slice(0, 8) }));
  report.axeMinor = axe.violations
    .filter((v) => v.impact !== "serious" && v.impact !== "critical")
    .map((v) => `${v.id} (${v.impact})`);
  report.shot = path.join(spec.shots, `${entry.name}-${width}.png`);
  // A full-page picture of a scrolled page comes out in repeated tiles: from the top, at once.
  await page.evaluate(() => window.scrollTo({ top: 0, behavior: "instant" }));
  await page.screenshot({ path: report.shot, fullPage: true });
}

// The watchers catch what they are for: on the home page, an inline script (refused by the
// policy) and a request to another host (refused by us, never sent).
async function canary() {
  const visit = { name: "canary", console: [], csp: [], foreign: [], failed: [] };
  const page = await contexts.public.newPage();
  visits.set(page, visit);
  page.on("console", (m) => { if (m.type() === "error") visit.console.push(m.text()); });
  await page.goto(`${spec.base}/`);
  await page.evaluate(async () => {
    const script = document.createElement("script");
    script.textContent = "globalThis.inlineRan = true;";
    document.head.append(script);
    await new Promise((r) => setTimeout(r, 200));
  });
  visit.inlineRan = await page.evaluate(() => globalThis.inlineRan === true);
  // A link to another host, followed: the policy lets a person leave; our watcher refuses it.
  await page.evaluate(() => {
    const away = document.createElement("a");
    away.href = "https://example.com/canary";
    document.body.append(away);
    away.click();
  });
  await page.waitForTimeout(500);
  await page.close();
  visits.delete(page);
  return visit;
}
const canaryReport = await canary();

// Two lanes at once (this machine has two cores). Pages that follow one mail's links stay in one
// chain, in order: the confirmation comes before the withdrawal.
const chains = [];
for (const entry of spec.pages) {
  const key = /^\/(confirm|withdraw)\//.test(entry.path) ? "mail" : entry.name;
  const chain = chains.find((c) => c.key === key);
  if (chain) chain.entries.push(entry); else chains.push({ key, entries: [entry] });
}
const results = new Map();

async function visitAll(entry) {
  const context = contexts[entry.audience];
  let landed = null; // where a state-changing click led: the other widths open it again
  for (const width of spec.widths) {
    const started = Date.now();
    const visit = { name: entry.name, width, console: [], csp: [], foreign: [], failed: [] };
    const page = await context.newPage();
    visits.set(page, visit);
    await page.setViewportSize({ width, height: width < 600 ? 844 : 800 });
    page.on("console", (m) => {
      if (m.type() !== "error") return;
      const text = m.text();
      // The document itself answering its expected error status is the page under test.
      const own = entry.status >= 400 && m.location().url === page.url()
        && text.startsWith(`Failed to load resource: the server responded with a status of ${entry.status}`);
      if (!own) visit.console.push(text);
      if (text.startsWith("Refused to")) visit.csp.push(text);
    });
    page.on("pageerror", (e) => visit.console.push(`uncaught: ${e.message}`));
    page.on("response", (r) => {
      if (r.status() >= 400 && r.request().resourceType() !== "document") visit.failed.push(`${r.status()} ${r.url()}`);
    });
    try {
      let response;
      if (entry.click && !landed) {
        await page.goto(`${spec.base}${entry.path}`);
        if (entry.solve) {
          await page.focus("#first_name");
          await page.waitForFunction(() => {
            const field = document.querySelector('input[name="altcha"]');
            return field !== null && field.value.length > 20;
          }, null, { timeout: 60000 });
          visit.solved = true; // the form is sent with its proof of work: only its fields fail
        }
        [response] = await Promise.all([
          page.waitForNavigation({ waitUntil: "load" }),
          page.click(entry.click),
        ]);
        if (entry.once) landed = page.url();
      } else {
        response = await page.goto(landed || `${spec.base}${entry.path}`);
      }
      await settle(page);
      await check(page, entry, width, response);
      if (width === spec.widths[0] && response) {
        await writeFile(path.join(spec.html, `${entry.name}.html`), await response.text());
      }
    } catch (e) {
      visit.error = String(e.stack || e).slice(0, 2000);
    }
    await page.close();
    visits.delete(page);
    visit.ms = Date.now() - started;
    results.set(`${entry.name} ${width}`, visit);
  }
}

async function lane() {
  for (let chain = chains.shift(); chain; chain = chains.shift()) {
    for (const entry of chain.entries) await visitAll(entry);
  }
}
await Promise.all([lane(), lane()]);
for (const context of Object.values(contexts)) await context.close();
await browser.close();
const ordered = spec.pages.flatMap((e) => spec.widths.map((w) => results.get(`${e.name} ${w}`)));
console.log(JSON.stringify({ canary: canaryReport, orphans, pages: ordered }));
