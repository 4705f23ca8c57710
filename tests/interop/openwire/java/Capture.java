// ferrymq OpenWire capture harness.
//
// Drives the real ActiveMQ 5.x JMS client against a tiny test server so the ferrymq test
// suite can record and decode the bytes the client really sends, and check that the client
// accepts what ferrymq encodes. Usage:
//
//   java -cp <jars>:. Capture <port> <variant-options>...
//
// Each variant opens one connection to tcp://127.0.0.1:<port>?<options>, produces every
// JMS message type, receives one message from the server on queue "ferry.in", sends one
// message in a local transaction and closes. One line per variant goes to stdout.

import java.util.Enumeration;

import javax.jms.BytesMessage;
import javax.jms.Connection;
import javax.jms.DeliveryMode;
import javax.jms.MapMessage;
import javax.jms.Message;
import javax.jms.MessageConsumer;
import javax.jms.MessageProducer;
import javax.jms.ObjectMessage;
import javax.jms.Queue;
import javax.jms.Session;
import javax.jms.StreamMessage;
import javax.jms.TextMessage;

import org.apache.activemq.ActiveMQConnectionFactory;

public class Capture {

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        for (int i = 1; i < args.length; i++) {
            String options = args[i].equals("-") ? "" : args[i];
            run("tcp://127.0.0.1:" + port + "?" + options, i);
        }
    }

    static void run(String url, int n) throws Exception {
        ActiveMQConnectionFactory factory = new ActiveMQConnectionFactory(url);
        Connection connection = factory.createConnection("capture-user", "s3cret");
        connection.setClientID("capture-" + n);
        connection.start();
        Session session = connection.createSession(false, Session.AUTO_ACKNOWLEDGE);
        Queue queue = session.createQueue("ferry.test");
        MessageProducer producer = session.createProducer(queue);

        TextMessage text = session.createTextMessage("hello ferrymq \u00e9\u0000\ud83d\ude00 #" + n);
        text.setStringProperty("color", "red");
        text.setIntProperty("count", 7);
        text.setLongProperty("big", 1L << 40);
        text.setBooleanProperty("flag", true);
        text.setDoubleProperty("pi", 3.25);
        text.setFloatProperty("half", 1.5f);
        text.setByteProperty("tiny", (byte) -2);
        text.setShortProperty("small", (short) 300);
        text.setJMSCorrelationID("corr-" + n);
        text.setJMSType("greeting");
        producer.send(text);

        BytesMessage bytes = session.createBytesMessage();
        bytes.writeBytes(new byte[] {0, 1, 2, (byte) 255});
        producer.send(bytes);

        MapMessage map = session.createMapMessage();
        map.setString("name", "widget");
        map.setInt("qty", 42);
        map.setBoolean("ok", true);
        map.setBytes("raw", new byte[] {9, 8});
        producer.send(map);

        StreamMessage stream = session.createStreamMessage();
        stream.writeString("s");
        stream.writeInt(5);
        stream.writeDouble(2.5);
        producer.send(stream);

        ObjectMessage object = session.createObjectMessage("serialized-string");
        producer.send(object);

        MessageProducer topicProducer = session.createProducer(session.createTopic("ferry.topic"));
        topicProducer.setDeliveryMode(DeliveryMode.NON_PERSISTENT);
        topicProducer.send(session.createTextMessage("to the topic"));

        MessageConsumer consumer = session.createConsumer(session.createQueue("ferry.in"), "color = 'blue'");
        Message got = consumer.receive(5000);
        StringBuilder line = new StringBuilder("RECEIVED ").append(n).append(' ');
        if (got instanceof TextMessage) {
            line.append("text=").append(((TextMessage) got).getText());
            line.append(" origin=").append(got.getStringProperty("origin"));
            line.append(" n=").append(got.getObjectProperty("n"));
            line.append(" id=").append(got.getJMSMessageID());
            line.append(" props=");
            Enumeration<?> names = got.getPropertyNames();
            while (names.hasMoreElements()) {
                line.append(names.nextElement()).append(',');
            }
        } else {
            line.append("none ").append(got);
        }
        System.out.println(line);
        consumer.close();

        Session tx = connection.createSession(true, Session.SESSION_TRANSACTED);
        tx.createProducer(queue).send(tx.createTextMessage("in a transaction"));
        tx.commit();
        connection.close();
        System.out.flush();
    }
}
