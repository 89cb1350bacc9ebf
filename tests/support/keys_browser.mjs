// The organisers' key pages in the system's Chromium, driven by playwright-core, signed in with
// the cookies the test gives. One step per run; prints one JSON report on stdout.
// Usage: node keys_browser.mjs BASE_URL STEP OUT_DIR [ARGS...]
//   create PASSPHRASE                       make a key on /organiser/key, save and use it
//   open EXPORT KEY PASSPHRASE              open a sealed export on /organiser/open
//   share SLUG KEY PASSPHRASE               share older data keys on /dashboard/c/SLUG/keys
// Environment: PLAYWRIGHT_FROM, CHROMIUM, COOKIES (JSON [{name, value}]); SHOTS, a folder for
// screenshots of the pages, to look at them.
import { launch } from "./launch.mjs";
import { readFile } from "node:fs/promises";
import path from "node:path";

const [base, step, out, ...args] = process.argv.slice(2);
const browser = await launch();
const context = await browser.newContext({ locale: "fr-FR", acceptDownloads: true });
await context.addCookies(JSON.parse(process.env.COOKIES).map((c) => ({ name: c.name, value: c.value, url: base })));
const page = await context.newPage();
const report = { console: [], requests: [], posts: [], failed: [], policies: {} };
page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") report.console.push(m.text()); });
page.on("pageerror", (e) => report.console.push(e.message));
page.on("request", (r) => {
  report.requests.push(`${r.method()} ${r.url()}`);
  if (r.method() === "POST") report.posts.push({ url: r.url(), body: r.postData() || "" });
});
page.on("response", (r) => {
  if (r.status() >= 400) report.failed.push(`${r.status()} ${r.url()}`);
  if (r.request().resourceType() === "document") report.policies[r.url()] = r.headers()["content-security-policy"] || "";
});

async function save(locator, name) {
  const [download] = await Promise.all([page.waitForEvent("download"), locator.click()]);
  const file = path.join(out, name);
  await download.saveAs(file);
  return file;
}

async function problem(root) {
  const shown = root.locator("[data-role=problem]");
  return (await shown.isVisible()) ? (await shown.innerText()).trim() : null;
}

if (step === "create") {
  const [passphrase] = args;
  await page.goto(`${base}/organiser/key`);
  const root = page.locator("[data-keys=create]");
  await root.waitFor({ state: "visible", timeout: 30000 });
  await root.locator("[data-role=passphrase]").fill("court");
  await root.locator("[data-role=passphrase-again]").fill("court");
  await root.locator("[data-role=make]").click();
  report.shortPassphrase = await problem(root);
  await root.locator("[data-role=passphrase]").fill(passphrase);
  await root.locator("[data-role=passphrase-again]").fill(passphrase);
  await root.locator("[data-role=make]").click();
  await root.locator("[data-role=made]").waitFor({ state: "visible", timeout: 90000 });
  report.fingerprint = (await root.locator("[data-role=fingerprint]").innerText()).trim();
  report.recovery = await root.locator("[data-role=recovery]").innerText();
  report.key = await save(root.locator("[data-role=download]"), "browser.key");
  report.public = await save(root.locator("[data-role=download-public]"), "browser.pub");
  report.useDisabledBeforeSaved = await root.locator("[data-role=use]").isDisabled();
  if (process.env.SHOTS) await page.screenshot({ path: path.join(process.env.SHOTS, "key-made.png"), fullPage: true });
  await root.locator("[data-role=saved]").check();
  await Promise.all([page.waitForURL(/saved=1/, { timeout: 30000 }), root.locator("[data-role=use]").click()]);
  report.after = (await page.locator("main").innerText()).trim();
} else if (step === "open") {
  const [exportFile, keyFile, passphrase] = args;
  await page.goto(`${base}/organiser/open`);
  const root = page.locator("[data-keys=open]");
  await root.waitFor({ state: "visible", timeout: 30000 });
  await root.locator("[data-role=export]").setInputFiles(exportFile);
  await root.locator("[data-role=key]").setInputFiles(keyFile);
  await root.locator("[data-role=passphrase]").fill(passphrase);
  await root.locator("[data-role=open]").click();
  await page.waitForFunction(() => {
    const opened = document.querySelector("[data-keys=open] [data-role=opened]");
    const failed = document.querySelector("[data-keys=open] [data-role=problem]");
    return (opened && !opened.hidden) || (failed && !failed.hidden);
  }, null, { timeout: 90000 });
  report.problem = await problem(root);
  if (report.problem === null) {
    report.count = (await root.locator("[data-role=count]").innerText()).trim();
    report.csv = await save(root.locator("[data-role=csv]"), "opened.csv");
    if (process.env.SHOTS) await page.screenshot({ path: path.join(process.env.SHOTS, "opened.png"), fullPage: true });
    report.json = await save(root.locator("[data-role=json]"), "opened.json");
  }
} else if (step === "share") {
  const [slug, keyFile, passphrase] = args;
  await page.goto(`${base}/dashboard/c/${slug}/keys`);
  const root = page.locator("[data-keys=share]");
  await root.waitFor({ state: "visible", timeout: 30000 });
  await root.locator("[data-role=key]").setInputFiles(keyFile);
  await root.locator("[data-role=passphrase]").fill(passphrase);
  await Promise.all([page.waitForURL(/shared=/, { timeout: 90000 }), root.locator("[data-role=share]").click()]);
  report.after = (await page.locator("main").innerText()).trim();
}
report.keyText = report.key ? (await readFile(report.key, "utf8")).trim() : null;
await browser.close();
console.log(JSON.stringify(report));
