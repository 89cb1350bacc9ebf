// Lighthouse (performance, accessibility, best practices, SEO) on pages of the site, in the
// system's Chromium started by Lighthouse's own chrome-launcher; nothing is fetched from another
// host (Chromium's background services are off, and Lighthouse itself fetches nothing).
// Usage: node lighthouse.mjs BASE_URL FORM_FACTORS PATH... (FORM_FACTORS: "desktop,mobile").
// Environment: LIGHTHOUSE_FROM (any file in the node_modules holding lighthouse), CHROMIUM.
// Prints one JSON report on its last line: per page and form factor, the scores and the audits
// that did not pass.
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const require = createRequire(process.env.LIGHTHOUSE_FROM);
const load = async (name) => import(pathToFileURL(require.resolve(name)).href);
const { default: lighthouse } = await load("lighthouse");
const { default: desktop } = await load("lighthouse/core/config/desktop-config.js");
const chromeLauncher = await load("chrome-launcher");
const [base, factors, ...paths] = process.argv.slice(2);
const CATEGORIES = ["performance", "accessibility", "best-practices", "seo"];

const chrome = await chromeLauncher.launch({
  chromePath: process.env.CHROMIUM,
  chromeFlags: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-default-apps", "--disable-domain-reliability", "--no-pings"],
  logLevel: "silent",
  connectionPollInterval: 200,
  maxConnectionRetries: 50,
});
const results = [];
try {
  for (const factor of factors.split(",")) {
    for (const page of paths) {
      const flags = {
        port: chrome.port, output: "json", logLevel: "error", onlyCategories: CATEGORIES,
        maxWaitForLoad: 20000, maxWaitForFcp: 15000,
      };
      const config = factor === "desktop" ? desktop : undefined;
      const started = Date.now();
      let lhr = (await lighthouse(`${base}${page}`, flags, config)).lhr;
      if (lhr.runtimeError) {
        // A trace now and then comes back without its start (NO_NAVSTART): once more, then say so.
        lhr = (await lighthouse(`${base}${page}`, flags, config)).lhr;
      }
      const scores = Object.fromEntries(CATEGORIES.map((c) => [c, lhr.categories[c].score]));
      const failing = [];
      for (const category of CATEGORIES) {
        for (const ref of lhr.categories[category].auditRefs) {
          const audit = lhr.audits[ref.id];
          if (ref.weight > 0 && audit.score !== null && audit.score < 0.9) {
            failing.push({ category, id: ref.id, score: audit.score, title: audit.title, value: audit.displayValue || "" });
          }
        }
      }
      const requested = (lhr.audits["network-requests"]?.details?.items || []).map((i) => i.url);
      results.push({ page, factor, scores, failing, requested, warnings: lhr.runWarnings, ms: Date.now() - started,
                     error: lhr.runtimeError ? `${lhr.runtimeError.code}: ${lhr.runtimeError.message}` : null });
    }
  }
} finally {
  await chrome.kill();
}
console.log(JSON.stringify({ lighthouse: results }));
