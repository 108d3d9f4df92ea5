// Drives Debian's Chromium (headless) through playwright-core for the web UI's browser
// tests: tests/ui/browser.py starts it and sends one JSON command per line on stdin; each
// answer is one JSON line on stdout ({"ok": true, "value": ...} or {"ok": false,
// "error": "..."}). Playwright never downloads a browser here: it starts the Chromium of
// CHROMIUM (default /usr/bin/chromium), with a fresh profile of its own each launch.
"use strict";
const path = require("node:path");
const readline = require("node:readline");
const fs = require("node:fs");

const modules = process.env.SYNCER_UI_MODULES;
const { chromium } = require(path.join(modules, "playwright-core"));
const AXE = fs.readFileSync(path.join(modules, "axe-core", "axe.min.js"), "utf8");

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

let browser;
let page;
const problems = [];

async function open() {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: FLAGS,
    headless: true,
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
  page.setDefaultTimeout(Number(process.env.SYNCER_UI_TIMEOUT_MS || 60000));
  // Errors in the page, and anything the Content-Security-Policy refused, fail the test.
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error" && !/the server responded with a status of 40[134]/.test(msg.text()))
      problems.push(`console: ${msg.text()}`);
  });
}

const ops = {
  async goto({ url }) {
    await page.goto(url);
  },
  async fill({ selector, value }) {
    await page.locator(selector).fill(value);
  },
  async click({ selector }) {
    await page.locator(selector).click();
  },
  async select({ selector, label }) {
    // An option by (part of) its text.
    const options = await page.locator(`${selector} option`).allTextContents();
    const found = options.find((o) => o.includes(label));
    if (found === undefined) throw new Error(`no option with ${label} in ${options.join(" | ")}`);
    await page.locator(selector).selectOption({ label: found });
  },
  async press({ key }) {
    await page.keyboard.press(key);
  },
  async type({ text }) {
    await page.keyboard.type(text);
  },
  async wait_text({ selector, text }) {
    // Until the element exists and holds the text (the page polls the API meanwhile).
    await page.locator(selector, { hasText: text }).first().waitFor();
  },
  async wait({ selector, state }) {
    await page.locator(selector).first().waitFor({ state: state || "visible" });
  },
  async text({ selector }) {
    return (await page.locator(selector).first().innerText()).trim();
  },
  async texts({ selector }) {
    return (await page.locator(selector).allInnerTexts()).map((t) => t.trim());
  },
  async count({ selector }) {
    return await page.locator(selector).count();
  },
  async enabled({ selector }) {
    return await page.locator(selector).first().isEnabled();
  },
  async focused() {
    return await page.evaluate(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return "";
      const name = el.getAttribute("aria-label") || el.textContent || el.getAttribute("name") || "";
      return `${el.tagName.toLowerCase()}:${name.trim().slice(0, 60)}`;
    });
  },
  async evaluate({ script }) {
    return await page.evaluate(script);
  },
  async screenshot({ file }) {
    await page.screenshot({ path: file, fullPage: false });
  },
  async axe() {
    // axe-core (from npm), evaluated in the page: the WCAG 2 A/AA rules and best practice.
    if (!(await page.evaluate(() => typeof window.axe !== "undefined"))) await page.evaluate(AXE);
    const result = await page.evaluate(() =>
      window.axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21aa", "best-practice"] }),
    );
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
    }));
  },
  async problems() {
    return problems.splice(0);
  },
  async timing({ url, selector }) {
    // Milliseconds from navigation to the selector showing (tests/bench only); from a
    // blank page, so the page loads whole each time (the tab keeps its sessionStorage).
    await page.goto("about:blank");
    const start = Date.now();
    await page.goto(url);
    await page.locator(selector).first().waitFor();
    return Date.now() - start;
  },
};

async function main() {
  await open();
  const lines = readline.createInterface({ input: process.stdin });
  process.stdout.write(JSON.stringify({ ok: true, value: "ready" }) + "\n");
  for await (const line of lines) {
    const command = JSON.parse(line);
    let answer;
    try {
      const op = ops[command.op];
      if (!op) throw new Error(`no operation ${command.op}`);
      answer = { ok: true, value: (await op(command)) ?? null };
    } catch (err) {
      answer = { ok: false, error: String(err && err.message ? err.message : err) };
    }
    process.stdout.write(JSON.stringify(answer) + "\n");
  }
  await browser.close();
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ ok: false, error: String(err) }) + "\n");
  process.exit(1);
});
