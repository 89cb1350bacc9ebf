// Signs a campaign in the system's Chromium, driven by playwright-core: once with JavaScript
// (the proof-of-work widget runs) and once without. Prints one JSON report on stdout.
// Usage: node browser.mjs BASE_URL SLUG EMAIL_WITH_JS EMAIL_WITHOUT_JS
import { launch } from "./launch.mjs";

const [base, slug, withJs, withoutJs] = process.argv.slice(2);
const browser = await launch();

async function sign(javaScriptEnabled, email) {
  const context = await browser.newContext({ javaScriptEnabled, locale: "fr-FR" });
  const page = await context.newPage();
  const report = { console: [], requests: [], failed: [], solved: false, url: "" };
  page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") report.console.push(m.text()); });
  page.on("pageerror", (e) => report.console.push(e.message));
  page.on("request", (r) => report.requests.push(r.url()));
  page.on("response", (r) => { if (r.status() >= 400) report.failed.push(`${r.status()} ${r.url()}`); });
  await page.goto(`${base}/c/${slug}`);
  await page.fill("#first_name", "Ada");
  await page.fill("#last_name", "Lovelace");
  await page.fill("#email", email);
  await page.check("#consent");
  if (javaScriptEnabled) {
    await page.focus("#first_name");
    await page.waitForFunction(() => {
      const field = document.querySelector('input[name="altcha"]');
      return field !== null && field.value.length > 20;
    }, null, { timeout: 60000 });
    report.solved = true;
    report.label = await page.evaluate(() => document.querySelector("altcha-widget").innerText.trim());
  }
  await page.click("form[action] button[type=submit]");
  await page.waitForURL(/\/thanks(#.*)?$/, { timeout: 30000 }); // the form posts to /c/SLUG#sign
  report.url = page.url().split("#")[0];
  await context.close();
  return report;
}

const result = { withJs: await sign(true, withJs), withoutJs: await sign(false, withoutJs) };
await browser.close();
console.log(JSON.stringify(result));
