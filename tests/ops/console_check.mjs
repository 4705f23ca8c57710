// Drive the ferrymq web console in Debian's headless chromium (through playwright-core, which
// scripts/install-browser.sh installs under tests/interop/browser). Usage:
//   node console_check.mjs HTTP_PORT USER PASSWORD QUEUE SCREENSHOT_DIR
// Signs in, reads the overview and the queue list, browses QUEUE, sends a message from the
// send form, and prints one JSON line with what the page showed; pytest judges it.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const pw = pathToFileURL(join(here, "..", "interop", "browser", "node_modules", "playwright-core", "index.mjs"));
const { chromium } = await import(pw.href);

const [port, user, password, queue, shots] = process.argv.slice(2);
const base = `http://127.0.0.1:${port}`;
const profile = mkdtempSync(join(tmpdir(), "ferrymq-console-"));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1280, height: 800 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const out = { errors: [], dialogs: 0 };
try {
  const page = browser.pages()[0] || (await browser.newPage());
  page.on("pageerror", (e) => out.errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") out.errors.push(m.text()); });
  page.on("dialog", (d) => { out.dialogs += 1; d.accept(); });
  await page.goto(base + "/");
  await page.waitForSelector("#login-form");
  // a wrong password first: the page's own form reports it (no browser auth dialog)
  await page.fill("#login-user", user);
  await page.fill("#login-password", password + "-wrong");
  await page.click("#login-form button");
  await page.waitForSelector("#login-error:not([hidden])");
  out.loginError = await page.textContent("#login-error");
  await page.fill("#login-password", password);
  await page.click("#login-form button");
  await page.waitForSelector("#overview:not([hidden]) dl dt");
  out.facts = await page.$$eval("#broker-info dt", (dts) => Object.fromEntries(
    dts.map((dt) => [dt.textContent, dt.nextElementSibling.textContent])));
  await page.screenshot({ path: join(shots, "overview.png"), fullPage: true });

  await page.click('nav a[href="#queues"]');
  await page.waitForSelector(`#queues-table tr[data-queue="${queue}"]`);
  out.queues = await page.$$eval("#queues-table tbody tr[data-queue]", (trs) =>
    trs.map((tr) => ({ name: tr.dataset.queue, size: Number(tr.children[1].textContent) })));
  await page.screenshot({ path: join(shots, "queues.png"), fullPage: true });

  await page.click(`#queues-table tr[data-queue="${queue}"] a`);
  await page.waitForSelector("#browse:not([hidden]) #messages-table tbody tr .pick");
  out.browsed = await page.$$eval("#messages-table tbody tr", (trs) =>
    trs.map((tr) => ({ id: tr.children[1].textContent, body: tr.children[6].textContent })));
  await page.screenshot({ path: join(shots, "browse.png"), fullPage: true });

  await page.click('nav a[href="#send"]');
  await page.selectOption("#send-kind", "queues");
  await page.fill("#send-dest", queue);
  await page.fill("#send-props", '{"origin": "console"}');
  await page.fill("#send-body", "sent from the console");
  await page.click("#send-form button[type=submit]");
  await page.waitForFunction(() => /^Sent /.test(document.querySelector("#notice").textContent));
  out.sendNotice = await page.textContent("#notice");
  await page.screenshot({ path: join(shots, "send.png"), fullPage: true });
} catch (e) {
  out.errors.push("driver: " + (e && e.stack ? e.stack : String(e)));
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(out));
