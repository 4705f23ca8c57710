// ferrymq OpenWire interop scenarios, driven by tests/interop/openwire/test_openwire_jms.py.
//
//   java -cp <jars>:. Jms <broker-url> <url-options> <tag> <scenario>...
//
// Every scenario uses the unchanged ActiveMQ 5.x JMS client against a ferrymq broker and
// prints JSON lines {"s": scenario, "k": key, "v": value}; the Python test asserts on them.
// Destination names carry <tag> so runs with different wire formats do not meet.

import java.util.ArrayList;
import java.util.Enumeration;
import java.util.List;

import javax.jms.BytesMessage;
import javax.jms.Connection;
import javax.jms.DeliveryMode;
import javax.jms.Destination;
import javax.jms.JMSException;
import javax.jms.MapMessage;
import javax.jms.Message;
import javax.jms.MessageConsumer;
import javax.jms.MessageProducer;
import javax.jms.ObjectMessage;
import javax.jms.Queue;
import javax.jms.QueueBrowser;
import javax.jms.Session;
import javax.jms.StreamMessage;
import javax.jms.TemporaryQueue;
import javax.jms.TemporaryTopic;
import javax.jms.TextMessage;
import javax.jms.Topic;
import javax.jms.TopicSubscriber;

import org.apache.activemq.ActiveMQConnection;
import org.apache.activemq.ActiveMQConnectionFactory;
import org.apache.activemq.RedeliveryPolicy;
import org.apache.activemq.command.ActiveMQMessage;

public class Jms {
    static String base;
    static String options;
    static String tag;
    static String scenario;

    public static void main(String[] args) throws Exception {
        base = args[0];
        options = args[1].equals("-") ? "" : args[1];
        tag = args[2];
        for (int i = 3; i < args.length; i++) {
            scenario = args[i];
            try {
                Jms.class.getDeclaredMethod(scenario).invoke(null);
                out("done", true);
            } catch (java.lang.reflect.InvocationTargetException e) {
                Throwable t = e.getCause();
                out("error", t.getClass().getName() + ": " + t.getMessage());
                t.printStackTrace();
            }
            System.out.flush();
        }
        System.exit(0);
    }

    // -- output ------------------------------------------------------------------------------
    static String json(Object v) {
        if (v == null) return "null";
        if (v instanceof Boolean || v instanceof Integer || v instanceof Long) return v.toString();
        if (v instanceof List) {
            StringBuilder b = new StringBuilder("[");
            for (Object o : (List<?>) v) {
                if (b.length() > 1) b.append(',');
                b.append(json(o));
            }
            return b.append(']').toString();
        }
        String s = v.toString();
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20 || c > 0x7e) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    static void out(String key, Object value) {
        System.out.println("{\"s\":" + json(scenario) + ",\"k\":" + json(key) + ",\"v\":" + json(value) + "}");
    }

    // -- helpers -------------------------------------------------------------------------------
    static ActiveMQConnectionFactory factory(String extra) {
        String opts = options;
        if (extra != null && !extra.isEmpty()) opts = opts.isEmpty() ? extra : opts + "&" + extra;
        return new ActiveMQConnectionFactory(base + (opts.isEmpty() ? "" : "?" + opts));
    }

    static Connection connect(String extra, String clientId) throws JMSException {
        Connection c = factory(extra).createConnection("user", "password");
        if (clientId != null) c.setClientID(clientId);
        c.start();
        return c;
    }

    static String name(String n) {
        return "ow." + tag + "." + n;
    }

    static String body(Message m) throws JMSException {
        if (m == null) return null;
        if (m instanceof TextMessage) return ((TextMessage) m).getText();
        return m.getClass().getSimpleName();
    }

    static List<String> drain(MessageConsumer c, long timeout) throws JMSException {
        List<String> got = new ArrayList<>();
        Message m;
        while ((m = c.receive(timeout)) != null) got.add(body(m));
        return got;
    }

    // -- scenarios -----------------------------------------------------------------------------
    static void types() throws Exception {
        for (String extra : new String[] {"", "jms.useCompression=true"}) {
            Connection c = connect(extra, null);
            Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
            Queue q = s.createQueue(name("types"));
            MessageProducer p = s.createProducer(q);
            String k = extra.isEmpty() ? "" : "z.";
            TextMessage t = s.createTextMessage("h\u00e9llo \ud83d\ude00 " + "x".repeat(300));
            t.setStringProperty("color", "red");
            t.setIntProperty("count", 7);
            t.setLongProperty("big", 1L << 40);
            t.setBooleanProperty("flag", true);
            t.setDoubleProperty("pi", 3.25);
            t.setByteProperty("tiny", (byte) -2);
            t.setJMSCorrelationID("corr-1");
            t.setJMSType("greeting");
            p.send(t, DeliveryMode.PERSISTENT, 6, 0);
            BytesMessage b = s.createBytesMessage();
            b.writeBytes(new byte[] {0, 1, 2, (byte) 255});
            p.send(b);
            MapMessage m = s.createMapMessage();
            m.setString("name", "widget");
            m.setInt("qty", 42);
            m.setBoolean("ok", true);
            p.send(m);
            StreamMessage st = s.createStreamMessage();
            st.writeString("s");
            st.writeInt(5);
            p.send(st);
            p.send(s.createObjectMessage("serialized"));
            p.send(s.createMessage());
            MessageConsumer cons = s.createConsumer(q);
            TextMessage rt = (TextMessage) cons.receive(5000);
            out(k + "text", rt.getText());
            out(k + "color", rt.getStringProperty("color"));
            out(k + "count", rt.getObjectProperty("count").getClass().getSimpleName() + ":" + rt.getIntProperty("count"));
            out(k + "big", rt.getObjectProperty("big").getClass().getSimpleName() + ":" + rt.getLongProperty("big"));
            out(k + "flag", rt.getBooleanProperty("flag"));
            out(k + "pi", "" + rt.getDoubleProperty("pi"));
            out(k + "tiny", rt.getObjectProperty("tiny").getClass().getSimpleName());
            out(k + "corr", rt.getJMSCorrelationID());
            out(k + "type", rt.getJMSType());
            out(k + "priority", rt.getJMSPriority());
            out(k + "persistent", rt.getJMSDeliveryMode() == DeliveryMode.PERSISTENT);
            out(k + "id", rt.getJMSMessageID() != null && rt.getJMSMessageID().equals(t.getJMSMessageID()));
            BytesMessage rb = (BytesMessage) cons.receive(5000);
            byte[] buf = new byte[(int) rb.getBodyLength()];
            rb.readBytes(buf);
            StringBuilder hex = new StringBuilder();
            for (byte x : buf) hex.append(String.format("%02x", x));
            out(k + "bytes", hex.toString());
            MapMessage rm = (MapMessage) cons.receive(5000);
            out(k + "map", rm.getString("name") + "," + rm.getInt("qty") + "," + rm.getBoolean("ok"));
            StreamMessage rs = (StreamMessage) cons.receive(5000);
            out(k + "stream", rs.readString() + "," + rs.readInt());
            ObjectMessage ro = (ObjectMessage) cons.receive(5000);
            out(k + "object", "" + ro.getObject());
            Message plain = cons.receive(5000);
            out(k + "plain", plain.getClass().getSimpleName());
            c.close();
        }
    }

    static void topic() throws Exception {
        Connection c = connect("", null);
        Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        Topic t = s.createTopic(name("topic"));
        MessageConsumer a = s.createConsumer(t);
        MessageConsumer b = s.createConsumer(t);
        MessageProducer p = s.createProducer(t);
        p.setDeliveryMode(DeliveryMode.NON_PERSISTENT);
        for (int i = 0; i < 3; i++) p.send(s.createTextMessage("t" + i));
        out("a", drain(a, 1000));
        out("b", drain(b, 200));
        c.close();
    }

    static void temp() throws Exception {
        Connection requester = connect("", null);
        Connection server = connect("", null);
        Session rs = requester.createSession(false, Session.AUTO_ACKNOWLEDGE);
        Session ss = server.createSession(false, Session.AUTO_ACKNOWLEDGE);
        MessageConsumer requests = ss.createConsumer(ss.createQueue(name("requests")));
        TemporaryQueue replyQ = rs.createTemporaryQueue();
        TemporaryTopic replyT = rs.createTemporaryTopic();
        MessageConsumer replies = rs.createConsumer(replyQ);
        MessageConsumer topicReplies = rs.createConsumer(replyT);
        TextMessage req = rs.createTextMessage("ping");
        req.setJMSReplyTo(replyQ);
        rs.createProducer(rs.createQueue(name("requests"))).send(req);
        Message got = requests.receive(5000);
        out("request", body(got));
        Destination replyTo = got.getJMSReplyTo();
        out("reply_to_temp", replyTo instanceof TemporaryQueue);
        MessageProducer sp = ss.createProducer(null);
        Thread.sleep(200); // let the temp-destination advisory arrive
        sp.send(replyTo, ss.createTextMessage("pong"));
        sp.send(replyT, ss.createTextMessage("pong-topic"));
        out("reply", body(replies.receive(5000)));
        out("topic_reply", body(topicReplies.receive(5000)));
        replies.close();
        replyQ.delete();
        Thread.sleep(200);
        try {
            sp.send(replyTo, ss.createTextMessage("late"));
            out("send_after_delete", "sent");
        } catch (JMSException e) {
            out("send_after_delete", "refused");
        }
        requester.close();
        server.close();
    }

    static void durable() throws Exception {
        String cid = "dur-" + tag;
        Connection c = connect("", cid);
        Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        Topic t = s.createTopic(name("durable"));
        TopicSubscriber sub = s.createDurableSubscriber(t, "sub1");
        MessageProducer p = s.createProducer(t);
        p.send(s.createTextMessage("online"));
        out("online", body(sub.receive(5000)));
        sub.close();
        p.send(s.createTextMessage("offline-1"));
        p.send(s.createTextMessage("offline-2"));
        c.close();
        Connection c2 = connect("", cid);
        Session s2 = c2.createSession(false, Session.AUTO_ACKNOWLEDGE);
        TopicSubscriber sub2 = s2.createDurableSubscriber(s2.createTopic(name("durable")), "sub1");
        out("offline", drain(sub2, 1000));
        try {
            s2.unsubscribe("sub1");
            out("unsubscribe_active", "allowed");
        } catch (JMSException e) {
            out("unsubscribe_active", "refused");
        }
        sub2.close();
        s2.unsubscribe("sub1");
        out("unsubscribed", true);
        try {
            s2.unsubscribe("sub1");
            out("unsubscribe_again", "allowed");
        } catch (JMSException e) {
            out("unsubscribe_again", "refused");
        }
        c2.close();
    }

    static void selector() throws Exception {
        Connection c = connect("", null);
        Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        Queue q = s.createQueue(name("selector"));
        MessageProducer p = s.createProducer(q);
        String[] colors = {"red", "blue", "red", "green"};
        for (int i = 0; i < colors.length; i++) {
            TextMessage m = s.createTextMessage(colors[i] + i);
            m.setStringProperty("color", colors[i]);
            m.setIntProperty("n", i);
            p.send(m);
        }
        out("red", drain(s.createConsumer(q, "color = 'red'"), 1000));
        out("n_gt", drain(s.createConsumer(q, "n > 2 OR JMSPriority > 7"), 500));
        try {
            s.createConsumer(q, "color = = 'x'");
            out("bad_selector", "accepted");
        } catch (javax.jms.InvalidSelectorException e) {
            out("bad_selector", "InvalidSelectorException");
        }
        out("rest", drain(s.createConsumer(q), 500));
        c.close();
    }

    static void transactions() throws Exception {
        Connection c = connect("", null);
        Session tx = c.createSession(true, Session.SESSION_TRANSACTED);
        Queue q = tx.createQueue(name("tx"));
        MessageProducer p = tx.createProducer(q);
        p.send(tx.createTextMessage("rolled-back-1"));
        p.send(tx.createTextMessage("rolled-back-2"));
        tx.rollback();
        p.send(tx.createTextMessage("committed"));
        Session plain = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        MessageConsumer peek = plain.createConsumer(q);
        out("before_commit", body(peek.receive(300)));
        peek.close();
        tx.commit();
        MessageConsumer cons = tx.createConsumer(q);
        Message m = cons.receive(5000);
        out("first", body(m) + ":" + m.getJMSRedelivered());
        tx.rollback();
        m = cons.receive(5000);
        out("again", body(m) + ":" + m.getJMSRedelivered());
        tx.commit();
        out("after_commit", body(cons.receive(300)));
        c.close();
        Connection c2 = connect("", null);
        Session s2 = c2.createSession(false, Session.AUTO_ACKNOWLEDGE);
        out("left", drain(s2.createConsumer(s2.createQueue(name("tx"))), 300));
        c2.close();
    }

    static void delivery() throws Exception {
        Connection c = connect("", null);
        Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        Queue q = s.createQueue(name("delivery"));
        MessageProducer p = s.createProducer(q);
        p.send(s.createTextMessage("np"), DeliveryMode.NON_PERSISTENT, 4, 0);
        p.send(s.createTextMessage("expires"), DeliveryMode.PERSISTENT, 4, 100);
        for (int i = 0; i <= 9; i += 3) p.send(s.createTextMessage("p" + i), DeliveryMode.PERSISTENT, i, 0);
        Thread.sleep(400);
        MessageConsumer cons = s.createConsumer(q);
        List<String> got = new ArrayList<>();
        Message m;
        while ((m = cons.receive(1000)) != null) {
            got.add(body(m) + ":" + m.getJMSPriority() + ":" + (m.getJMSDeliveryMode() == DeliveryMode.PERSISTENT));
        }
        out("order", got);
        c.close();
    }

    static void dlq() throws Exception {
        ActiveMQConnectionFactory f = factory("");
        RedeliveryPolicy policy = new RedeliveryPolicy();
        policy.setMaximumRedeliveries(2);
        policy.setInitialRedeliveryDelay(0);
        policy.setRedeliveryDelay(0);
        f.setRedeliveryPolicy(policy);
        Connection c = f.createConnection("user", "password");
        c.start();
        Session tx = c.createSession(true, Session.SESSION_TRANSACTED);
        Queue q = tx.createQueue(name("poison"));
        tx.createProducer(q).send(tx.createTextMessage("poison"));
        tx.commit();
        MessageConsumer cons = tx.createConsumer(q);
        int deliveries = 0;
        Message m;
        while ((m = cons.receive(1000)) != null) {
            deliveries++;
            tx.rollback();
        }
        out("deliveries", deliveries);
        Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        MessageConsumer dlq = s.createConsumer(s.createQueue("ActiveMQ.DLQ"));
        List<String> dead = new ArrayList<>();
        Message d;
        while ((d = dlq.receive(1000)) != null) {
            dead.add(body(d));
            if ("poison".equals(body(d))) {
                out("dlq_original", "" + ((ActiveMQMessage) d).getOriginalDestination());
                out("dlq_cause", d.getStringProperty("dlqDeliveryFailureCause") != null);
            }
        }
        out("dlq_bodies", dead);
        out("queue_left", drain(s.createConsumer(q), 300));
        c.close();
    }

    static void groups() throws Exception {
        Connection c = connect("", null);
        Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        Queue q = s.createQueue(name("groups"));
        MessageConsumer a = s.createConsumer(q);
        MessageConsumer b = s.createConsumer(q);
        MessageProducer p = s.createProducer(q);
        for (int i = 0; i < 8; i++) {
            TextMessage m = s.createTextMessage((i % 2 == 0 ? "A" : "B") + i);
            m.setStringProperty("JMSXGroupID", i % 2 == 0 ? "A" : "B");
            p.send(m);
        }
        List<String> ga = drain(a, 1000);
        List<String> gb = drain(b, 300);
        out("a", ga);
        out("b", gb);
        c.close();
    }

    static void exclusive() throws Exception {
        Connection c = connect("", null);
        Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        Queue q = s.createQueue(name("exclusive") + "?consumer.exclusive=true");
        MessageConsumer a = s.createConsumer(q);
        MessageConsumer b = s.createConsumer(q);
        MessageProducer p = s.createProducer(s.createQueue(name("exclusive")));
        for (int i = 0; i < 4; i++) p.send(s.createTextMessage("e" + i));
        out("a", drain(a, 1000).size());
        out("b", drain(b, 300).size());
        c.close();
    }

    static void browser() throws Exception {
        Connection c = connect("", null);
        Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        Queue q = s.createQueue(name("browse"));
        MessageProducer p = s.createProducer(q);
        for (int i = 0; i < 3; i++) {
            TextMessage m = s.createTextMessage("b" + i);
            m.setIntProperty("n", i);
            p.send(m);
        }
        List<String> seen = new ArrayList<>();
        QueueBrowser br = s.createBrowser(q);
        for (Enumeration<?> e = br.getEnumeration(); e.hasMoreElements();) seen.add(body((Message) e.nextElement()));
        out("browsed", seen);
        List<String> sel = new ArrayList<>();
        for (Enumeration<?> e = s.createBrowser(q, "n >= 1").getEnumeration(); e.hasMoreElements();) {
            sel.add(body((Message) e.nextElement()));
        }
        out("browsed_selector", sel);
        out("consumed", drain(s.createConsumer(q), 1000));
        c.close();
    }

    static void prefetch() throws Exception {
        Connection c = connect("jms.prefetchPolicy.all=0", null);
        Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        Queue q = s.createQueue(name("pull"));
        MessageConsumer cons = s.createConsumer(q);
        long t0 = System.currentTimeMillis();
        out("empty_nowait", body(cons.receiveNoWait()));
        out("empty_timeout", body(cons.receive(300)));
        out("waited", System.currentTimeMillis() - t0 >= 250);
        MessageProducer p = s.createProducer(q);
        for (int i = 0; i < 3; i++) p.send(s.createTextMessage("m" + i));
        // a second consumer with prefetch 0 must be able to take messages the first did not pull
        MessageConsumer other = s.createConsumer(q);
        out("first", body(cons.receive(2000)));
        out("other", body(other.receive(2000)));
        out("nowait", body(cons.receiveNoWait()));
        c.close();
        Connection c2 = connect("jms.prefetchPolicy.all=2", null);
        Session s2 = c2.createSession(false, Session.CLIENT_ACKNOWLEDGE);
        Queue q2 = s2.createQueue(name("prefetch2"));
        MessageProducer p2 = s2.createProducer(q2);
        for (int i = 0; i < 10; i++) p2.send(s2.createTextMessage("n" + i));
        MessageConsumer slow = s2.createConsumer(q2);
        Message first = slow.receive(2000);
        Thread.sleep(200);
        // prefetch 2: the second consumer gets what the first has not prefetched
        MessageConsumer fast = s2.createConsumer(q2);
        List<String> fastGot = drain(fast, 500);
        out("fast_count", fastGot.size());
        first.acknowledge();
        c2.close();
    }

    static void clientack() throws Exception {
        Connection c = connect("", null);
        Session s = c.createSession(false, Session.CLIENT_ACKNOWLEDGE);
        Queue q = s.createQueue(name("clientack"));
        MessageProducer p = s.createProducer(q);
        for (int i = 0; i < 4; i++) p.send(s.createTextMessage("c" + i));
        MessageConsumer cons = s.createConsumer(q);
        Message last = null;
        for (int i = 0; i < 2; i++) last = cons.receive(2000);
        last.acknowledge(); // acknowledges c0 and c1
        Message third = cons.receive(2000);
        out("third", body(third));
        c.close(); // c2 unacknowledged, c3 only prefetched
        Connection c2 = connect("", null);
        Session s2 = c2.createSession(false, Session.AUTO_ACKNOWLEDGE);
        List<String> got = new ArrayList<>();
        MessageConsumer cons2 = s2.createConsumer(s2.createQueue(name("clientack")));
        Message m;
        while ((m = cons2.receive(1000)) != null) got.add(body(m) + ":" + m.getJMSRedelivered());
        out("redelivered", got);
        // individual acknowledge
        Session si = c2.createSession(false, ActiveMQSession_INDIVIDUAL);
        Queue qi = si.createQueue(name("individual"));
        MessageProducer pi = si.createProducer(qi);
        for (int i = 0; i < 3; i++) pi.send(si.createTextMessage("i" + i));
        MessageConsumer ci = si.createConsumer(qi);
        Message i0 = ci.receive(2000);
        Message i1 = ci.receive(2000);
        Message i2 = ci.receive(2000);
        i1.acknowledge();
        ci.close();
        si.close();
        out("individual_left", drain(s2.createConsumer(qi), 1000));
        c2.close();
    }

    static final int ActiveMQSession_INDIVIDUAL = 4;

    static void flow() throws Exception {
        Connection c = connect("jms.producerWindowSize=4096&jms.useAsyncSend=true", null);
        Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        Queue q = s.createQueue(name("flow"));
        MessageProducer p = s.createProducer(q);
        byte[] payload = new byte[2000];
        for (int i = 0; i < 200; i++) {
            BytesMessage m = s.createBytesMessage();
            m.writeBytes(payload);
            p.send(m);
        }
        out("sent", 200);
        MessageConsumer cons = s.createConsumer(q);
        int n = 0;
        while (cons.receive(1000) != null) n++;
        out("received", n);
        c.close();
    }

    static void errors() throws Exception {
        try {
            factory("").createConnection("user", "wrong").start();
            out("bad_password", "accepted");
        } catch (javax.jms.JMSSecurityException e) {
            out("bad_password", "JMSSecurityException");
        } catch (JMSException e) {
            out("bad_password", e.getClass().getName());
        }
        Connection a = connect("", "same-" + tag);
        try {
            connect("", "same-" + tag);
            out("duplicate_client_id", "accepted");
        } catch (javax.jms.InvalidClientIDException e) {
            out("duplicate_client_id", "InvalidClientIDException");
        }
        a.close();
        // after all that, the broker still serves
        Connection c = connect("", null);
        Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        Queue q = s.createQueue(name("after-errors"));
        s.createProducer(q).send(s.createTextMessage("still here"));
        out("after", body(s.createConsumer(q).receive(3000)));
        c.close();
    }

    // -- cross-protocol: the Python test talks STOMP on the other side ---------------------------
    static void crossout() throws Exception {
        Connection c = connect("", null);
        Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        MessageProducer p = s.createProducer(s.createQueue(name("to-stomp")));
        TextMessage t = s.createTextMessage("text from jms \u00e9");
        t.setStringProperty("color", "red");
        t.setIntProperty("n", 5);
        t.setJMSCorrelationID("c-1");
        t.setJMSType("kind");
        p.send(t, DeliveryMode.PERSISTENT, 7, 0);
        BytesMessage b = s.createBytesMessage();
        b.writeBytes(new byte[] {0, 1, 2, 3});
        p.send(b);
        MapMessage m = s.createMapMessage();
        m.setString("name", "widget");
        m.setInt("qty", 42);
        p.send(m);
        out("sent", 3);
        c.close();
    }

    static void crossin() throws Exception {
        Connection c = connect("", null);
        Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        MessageConsumer cons = s.createConsumer(s.createQueue(name("from-stomp")));
        List<String> got = new ArrayList<>();
        Message m;
        while ((m = cons.receive(2000)) != null) {
            String d;
            if (m instanceof TextMessage) {
                d = "text:" + ((TextMessage) m).getText();
            } else if (m instanceof BytesMessage) {
                BytesMessage bm = (BytesMessage) m;
                byte[] buf = new byte[(int) bm.getBodyLength()];
                bm.readBytes(buf);
                d = "bytes:" + new String(buf, "UTF-8");
            } else {
                d = m.getClass().getSimpleName();
            }
            got.add(d + "|" + m.getStringProperty("color") + "|" + m.getJMSCorrelationID() + "|" + m.getJMSPriority()
                    + "|" + (m.getJMSDeliveryMode() == DeliveryMode.PERSISTENT));
        }
        out("received", got);
        c.close();
    }

    // -- topics across protocols (MQTT has no queues) ------------------------------------------
    static void topicout() throws Exception {
        Connection c = connect("", null);
        Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        MessageProducer p = s.createProducer(s.createTopic(name("to-mqtt")));
        TextMessage t = s.createTextMessage("text to mqtt");
        p.send(t, DeliveryMode.PERSISTENT, 4, 0);
        BytesMessage b = s.createBytesMessage();
        b.writeBytes(new byte[] {0, 1, 2, 3});
        p.send(b);
        out("sent", 2);
        c.close();
    }

    static void topicin() throws Exception {
        Connection c = connect("", null);
        Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        MessageConsumer cons = s.createConsumer(s.createTopic(name("from-mqtt")));
        out("ready", true);
        System.out.flush();
        List<String> got = new ArrayList<>();
        Message m;
        while (got.size() < 2 && (m = cons.receive(10000)) != null) {
            if (m instanceof BytesMessage) {
                BytesMessage bm = (BytesMessage) m;
                byte[] buf = new byte[(int) bm.getBodyLength()];
                bm.readBytes(buf);
                got.add("bytes:" + new String(buf, "UTF-8") + "|" + (m.getJMSDeliveryMode() == DeliveryMode.PERSISTENT));
            } else {
                got.add(m.getClass().getSimpleName());
            }
        }
        out("received", got);
        c.close();
    }

    // -- failover: driven step by step through stdin by the Python test -----------------------
    static void failover() throws Exception {
        java.io.BufferedReader in = new java.io.BufferedReader(new java.io.InputStreamReader(System.in));
        ActiveMQConnectionFactory f = new ActiveMQConnectionFactory(base);
        Connection c = f.createConnection("user", "password");
        c.setClientID("failover-" + tag);
        c.start();
        Session s = c.createSession(false, Session.CLIENT_ACKNOWLEDGE);
        Queue q = s.createQueue(name("fo"));
        Topic t = s.createTopic(name("fo-topic"));
        MessageConsumer qc = s.createConsumer(q);
        TopicSubscriber dc = s.createDurableSubscriber(t, "fo-sub");
        MessageProducer p = s.createProducer(null);
        p.setDeliveryMode(DeliveryMode.PERSISTENT);
        for (int i = 0; i < 4; i++) p.send(q, s.createTextMessage("q" + i));
        Message m0 = qc.receive(5000);
        Message m1 = qc.receive(5000);
        m1.acknowledge(); // q0, q1 consumed
        Message m2 = qc.receive(5000); // q2 delivered, not acknowledged
        out("before", body(m0) + "," + body(m1) + "," + body(m2));
        out("ready", ((ActiveMQConnection) c).getTransport().getRemoteAddress() != null);
        System.out.flush();
        in.readLine(); // the test restarts the broker now
        p.send(t, s.createTextMessage("after-restart-topic"));
        p.send(q, s.createTextMessage("q4"));
        List<String> got = new ArrayList<>();
        Message m;
        while ((m = qc.receive(3000)) != null) {
            got.add(body(m));
            m.acknowledge();
        }
        out("queue_after", got);
        out("durable_after", body(dc.receive(3000)));
        c.close();
    }
}
