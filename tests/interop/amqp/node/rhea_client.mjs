// rhea (AMQP 1.0 for Node) against ferrymq: send to a queue, receive from it, a topic
// subscription, a rejected delivery. Prints one JSON line with what it saw.
import rhea from "rhea";

const [port, queue, topic] = process.argv.slice(2);
const container = rhea.create_container({ id: "rhea-" + Date.now() });
const out = { received: [], topic: [], rejected: null, errors: [] };
const N = 20;

const conn = container.connect({
  host: "127.0.0.1", port: Number(port), username: "user", password: "password",
  reconnect: false, idle_time_out: 2000,
});
conn.on("connection_error", (ctx) => out.errors.push(String(ctx.connection.error)));
conn.on("error", (e) => out.errors.push(String(e)));

const finish = () => {
  console.log(JSON.stringify(out));
  conn.close();
};
const timer = setTimeout(() => { out.errors.push("timeout"); finish(); }, 15000);

let topicSub;
conn.once("connection_open", () => {
  topicSub = conn.open_receiver({ source: { address: topic, capabilities: ["topic"] } });
  topicSub.once("receiver_open", () => {
    const ts = conn.open_sender({ target: { address: topic, capabilities: ["topic"] } });
    ts.once("sendable", () => ts.send({ body: "to-all", application_properties: { from: "rhea" } }));
  });
  topicSub.on("message", (ctx) => {
    out.topic.push({ body: ctx.message.body, props: ctx.message.application_properties });
    const sender = conn.open_sender(queue);
    let sent = 0;
    sender.on("sendable", () => {
      while (sender.sendable() && sent < N) {
        sender.send({ body: "m" + sent, durable: true, application_properties: { n: sent } });
        sent++;
      }
    });
    const rcv = conn.open_receiver({ source: queue, autoaccept: false, credit_window: 5 });
    rcv.on("message", (m) => {
      const n = m.message.application_properties.n;
      out.received.push(m.message.body);
      if (n === 0) {
        m.delivery.reject({ condition: "app:bad", description: "bad message" });
        out.rejected = m.message.body;
      } else {
        m.delivery.accept();
      }
      if (out.received.length === N) {
        clearTimeout(timer);
        finish();
      }
    });
  });
});
