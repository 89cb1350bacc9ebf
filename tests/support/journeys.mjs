// People's journeys clicked in the system's Chromium, driven by playwright-core. The test answers
// what only it knows (a mail that arrived, a code from its clock): this script prints
// `ASK {json}` and reads one JSON line on its standard input. One JSON report on its last line.
// Usage: node journeys.mjs BASE_URL JOURNEY OPTIONS_JSON
//   sign       {slug, email, javaScript, keyboard}: sign, confirm from the mail, withdraw
//   organiser  {slug, email, password, name}: sign in, turn on two factors, sign in again with
//              a code, export the verified list as CSV with the page's button
import { launch } from "./launch.mjs";
import { readFile } from "node:fs/promises";
import readline from "node:readline";

const [base, journey, optionsJson] = process.argv.slice(2);
const options = JSON.parse(optionsJson);
const origin = new URL(base).origin;
const STEP = 20000;

const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function ask(question) {
  console.log(`ASK ${JSON.stringify(question)}`);
  const { value, done } = await lines.next();
  if (done) throw new Error(`no answer to ${JSON.stringify(question)}`);
  return JSON.parse(value);
}

const browser = await launch({ timeout: STEP });
const report = { console: [], csp: [], foreign: [], failed: [], steps: [] };
const context = await browser.newContext({
  locale: "fr-FR", javaScriptEnabled: options.javaScript !== false, acceptDownloads: true,
  viewport: { width: 1280, height: 800 },
});
context.setDefaultTimeout(STEP);
await context.route((url) => url.origin !== origin, (route) => {
  report.foreign.push(route.request().url());
  return route.abort("blockedbyclient");
});
await context.exposeBinding("__petitionPolicyViolation", (_source, text) => report.csp.push(text));
await context.addInitScript(() => {
  document.addEventListener("securitypolicyviolation", (e) => {
    globalThis.__petitionPolicyViolation(`${e.violatedDirective} blocked ${e.blockedURI || "(inline)"}`);
  });
});
const page = await context.newPage();
page.on("console", (m) => {
  if (m.type() !== "error") return;
  report.console.push(m.text());
  if (m.text().startsWith("Refused to")) report.csp.push(m.text());
});
page.on("pageerror", (e) => report.console.push(`uncaught: ${e.message}`));
page.on("response", (r) => { if (r.status() >= 400) report.failed.push(`${r.status()} ${r.url()}`); });

const step = (name) => report.steps.push({ name, path: new URL(page.url()).pathname });
const at = (ending) => (url) => url.pathname.endsWith(ending);

async function shownCount(slug) {
  await page.goto(`${base}/c/${slug}`);
  return Number(await page.getAttribute("[data-count]", "data-count"));
}

async function countBecomes(slug, expected) {
  // The count follows the press within a moment (counters are written together).
  const deadline = Date.now() + 15000;
  let shown = await shownCount(slug);
  while (shown !== expected && Date.now() < deadline) {
    await page.waitForTimeout(200);
    shown = await shownCount(slug);
  }
  return shown;
}

async function solved() {
  await page.waitForFunction(() => {
    const field = document.querySelector('input[name="altcha"]');
    return field !== null && field.value.length > 20;
  }, null, { timeout: 60000 });
}

// Tab until `selector` has the focus, noting how each element reached shows its focus.
async function tabTo(selector) {
  for (let presses = 0; presses < 60; presses++) {
    await page.keyboard.press("Tab");
    const seen = await page.evaluate((wanted) => {
      const e = document.activeElement;
      if (!e || e === document.body) return null;
      const style = getComputedStyle(e);
      const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
      const shadow = style.boxShadow !== "none";
      return {
        element: `${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""}${e.getAttribute("name") ? `[name=${e.getAttribute("name")}]` : ""}`,
        outline: `${style.outlineStyle} ${style.outlineWidth} ${style.outlineColor}`,
        boxShadow: style.boxShadow,
        visible: outline || shadow,
        target: e.matches(wanted),
      };
    }, selector);
    if (seen) report.focus.push(seen);
    if (seen && seen.target) return;
  }
  throw new Error(`${selector} never had the focus`);
}

async function fillForm() {
  const person = { first_name: "Ada", last_name: "Lovelace", role: "Mathématicienne", organisation: "CHU de Lyon", email: options.email };
  if (!options.keyboard) {
    for (const [id, value] of Object.entries(person)) await page.fill(`#${id}`, value);
    await page.check("#consent");
    if (options.javaScript !== false) await solved();
    step("filled");
    await Promise.all([page.waitForURL(at("/thanks")), page.click("form[action^='/c/'] button[type=submit]")]);
    return;
  }
  report.focus = [];
  for (const [id, value] of Object.entries(person)) {
    await tabTo(`#${id}`);
    await page.keyboard.type(value);
  }
  await tabTo("#consent");
  await page.keyboard.press("Space");
  report.consentTicked = await page.isChecked("#consent");
  await solved(); // the widget started when the form had the focus
  await tabTo("form[action^='/c/'] button[type=submit]");
  step("filled");
  await Promise.all([page.waitForURL(at("/thanks")), page.keyboard.press("Enter")]);
}

async function press(path, button, landing) {
  await page.goto(`${base}${path}`);
  step(`opened ${path.split("/")[1]}`);
  await Promise.all([page.waitForURL(landing), page.click(button)]);
  step(`pressed ${path.split("/")[1]}`);
}

if (journey === "sign") {
  const { slug } = options;
  report.before = await shownCount(slug);
  await fillForm();
  step("thanks");
  report.thanks = await page.textContent("main");
  const mail = await ask({ mail: options.email });
  await press(mail.confirm, "form[action^='/confirm/'] button[type=submit]", at("/confirmed"));
  report.confirmedText = await page.textContent("main");
  report.confirmedPageCount = Number(await page.getAttribute("[data-count]", "data-count"));
  report.afterConfirm = await countBecomes(slug, report.before + 1);
  await press(mail.withdraw, "form[action^='/withdraw/']:not([action$='/publication']) button[type=submit]", at("/withdrawn"));
  report.withdrawnText = await page.textContent("main");
  report.afterWithdraw = await countBecomes(slug, report.before);
} else if (journey === "organiser") {
  const { slug } = options;
  async function signIn(code) {
    await page.goto(`${base}/organiser/login`);
    await page.fill("#email", options.email);
    await page.fill("#password", options.password);
    if (code) await page.fill("#code", code);
    await Promise.all([page.waitForURL(at("/dashboard")), page.click("form[action='/organiser/login'] button[type=submit]")]);
    step(code ? "signed in with a code" : "signed in with a password");
  }
  await signIn("");
  await page.goto(`${base}/dashboard/c/${slug}`);
  report.exportBefore = await page.locator(`form[action='/dashboard/c/${slug}/export']`).count();
  await Promise.all([page.waitForURL(at("/organiser/2fa")), page.click("a[href='/organiser/2fa'] >> nth=0")]);
  const secret = await page.getAttribute("input[name=secret]", "value");
  await page.fill("#code", (await ask({ totp: secret })).code);
  await Promise.all([page.waitForURL((url) => !url.pathname.endsWith("/2fa")), page.click("form[action='/organiser/2fa'] button[type=submit]")]);
  step("two factors on");
  await Promise.all([page.waitForURL(at("/organiser/login")), page.click("form[action='/organiser/logout'] button[type=submit]")]);
  step("signed out");
  await signIn((await ask({ totp: secret })).code);
  await page.goto(`${base}/dashboard/c/${slug}`);
  await page.check("#format-csv");
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.click(`form[action='/dashboard/c/${slug}/export'] button[type=submit]`),
  ]);
  report.filename = download.suggestedFilename();
  report.csv = await readFile(await download.path(), "utf8");
  step("exported");
}
await context.close();
await browser.close();
lines.return?.();
console.log(JSON.stringify(report));
process.exit(0);
