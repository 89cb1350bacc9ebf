// The system's Chromium, launched by playwright-core for every browser script of the tests: no
// browser of its own, and none of Chromium's own calls home (updates, sync, pings).
import { createRequire } from "node:module";

export const { chromium } = createRequire(process.env.PLAYWRIGHT_FROM)("playwright-core");

export const QUIET = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--disable-default-apps", "--disable-domain-reliability", "--no-pings"];

export function launch(options = {}) {
  return chromium.launch({ executablePath: process.env.CHROMIUM, args: QUIET, ...options });
}
