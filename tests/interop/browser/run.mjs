// Browser clients against ferrymq over WebSocket: @stomp/stompjs and mqtt.js running in
// Debian's headless chromium, driven by playwright-core. Usage: node run.mjs WS_PORT
// Prints one JSON line with what each browser client saw; the pytest side judges it.
import { createServer } from "node:http";
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const port = Number(process.argv[2]);
const profile = mkdtempSync(join(tmpdir(), "ferrymq-chromium-"));
// a fresh profile directory per run (playwright passes it as --user-data-dir)
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
try {
  const page = browser.pages()[0] || (await browser.newPage());
  page.on("console", (m) => process.stderr.write(`[page] ${m.text()}\n`));
  // the page comes from 127.0.0.1 like the broker (a page from elsewhere may not open
  // loopback sockets under chromium's local network access checks)
  const server = createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end("<!doctype html><title>ferrymq browser interop</title>");
  });
  await new Promise((res) => server.listen(0, "127.0.0.1", res));
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  server.close();
  await page.addScriptTag({ path: join(here, "node_modules/@stomp/stompjs/bundles/stomp.umd.min.js") });
  await page.addScriptTag({ path: join(here, "node_modules/mqtt/dist/mqtt.min.js") });
  const result = await page.evaluate(async (port) => {
    const url = `ws://127.0.0.1:${port}/`;
    const withTimeout = (p, ms, what) =>
      Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`timeout: ${what}`)), ms))]);
    const out = {};

    // STOMP client (stompjs negotiates v12.stomp)
    const stomp = new StompJs.Client({
      brokerURL: url, connectHeaders: { login: "user", passcode: "password" },
      reconnectDelay: 0, heartbeatIncoming: 0, heartbeatOutgoing: 0,
    });
    const stompConnected = new Promise((res, rej) => {
      stomp.onConnect = (frame) => res(frame);
      stomp.onStompError = (f) => rej(new Error(f.headers.message));
      stomp.onWebSocketError = () => rej(new Error("websocket error"));
    });
    stomp.activate();
    const cf = await withTimeout(stompConnected, 5000, "stomp connect");
    out.stompVersion = cf.headers.version;
    out.stompSubprotocol = stomp.webSocket.protocol;

    // MQTT client (mqtt.js negotiates the mqtt subprotocol)
    const mq = mqtt.connect(url, {
      username: "user", password: "password", clientId: "browser-mqtt", reconnectPeriod: 0, protocolVersion: 4,
    });
    await withTimeout(new Promise((res, rej) => { mq.on("connect", res); mq.on("error", rej); }), 5000, "mqtt connect");
    const mqttGot = [];
    mq.on("message", (topic, payload, packet) =>
      mqttGot.push({ topic, payload: new TextDecoder().decode(payload), qos: packet.qos, retain: packet.retain }));
    await withTimeout(new Promise((res, rej) =>
      mq.subscribe("browser/+", { qos: 1 }, (err, granted) => err ? rej(err) : res(granted))), 5000, "mqtt sub");

    // STOMP subscriber of what MQTT publishes
    const stompGot = [];
    stomp.subscribe("/topic/browser.>", (m) => stompGot.push({ dest: m.headers.destination, body: m.body }));
    // a STOMP round trip so the subscription is in place before publishing
    await withTimeout(new Promise((res) => {
      const id = "rt-" + Math.random();
      stomp.watchForReceipt(id, res);
      stomp.publish({ destination: "/queue/browser.sync", body: "x", headers: { receipt: id } });
    }), 5000, "stomp receipt");

    // STOMP -> MQTT and MQTT -> STOMP, and MQTT -> MQTT
    stomp.publish({ destination: "/topic/browser.fromstomp", body: "hello from stompjs",
                    headers: { persistent: "true" } });
    await withTimeout(new Promise((res, rej) =>
      mq.publish("browser/frommqtt", "hello from mqtt.js", { qos: 1 }, (e) => e ? rej(e) : res())), 5000, "mqtt pub");
    const until = Date.now() + 5000;
    while ((mqttGot.length < 2 || stompGot.length < 2) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 50));
    }
    out.mqttGot = [...mqttGot].sort((a, b) => a.topic.localeCompare(b.topic));
    out.stompGot = [...stompGot].sort((a, b) => a.dest.localeCompare(b.dest));

    // retained message through mqtt.js, seen by a second mqtt.js client
    await new Promise((res) => mq.publish("browser/retained", "kept", { qos: 1, retain: true }, res));
    const mq2 = mqtt.connect(url, { username: "user", password: "password", clientId: "browser-mqtt-2",
                                   reconnectPeriod: 0 });
    await withTimeout(new Promise((res) => mq2.on("connect", res)), 5000, "mqtt2 connect");
    out.retained = await withTimeout(new Promise((res) => {
      mq2.on("message", (topic, payload, packet) =>
        res({ topic, payload: new TextDecoder().decode(payload), retain: packet.retain }));
      mq2.subscribe("browser/retained", { qos: 1 });
    }), 5000, "retained");
    mq2.end(true);
    mq.end(true);
    await stomp.deactivate();
    return out;
  }, port);
  process.stdout.write(JSON.stringify(result) + "\n");
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
