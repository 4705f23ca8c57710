"""Real brokers: `ferrymq serve` processes started, rebooted, restarted and deleted by the service,
with stomp.py logins as the proof."""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Callable
from typing import Any

import psutil
import pytest
import stomp
import yaml
from stomp.exception import ConnectFailedException

from conftest import Service, password

# real broker processes: each test starts, reboots or restarts `ferrymq serve` instances
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def svc(service_factory: Callable[..., Service]) -> Service:
    return service_factory("20500-20799")  # the real `ferrymq serve`


def stomp_port(desc: dict[str, Any], instance: int = 0) -> int:
    [url] = [
        e
        for e in desc["BrokerInstances"][instance]["Endpoints"]
        if e.startswith(("stomp://", "stomp+ssl://"))
    ]
    return int(url.rsplit(":", 1)[1])


def login(port: int, user: str, pw: str) -> stomp.Connection:
    conn = stomp.Connection([("127.0.0.1", port)], reconnect_attempts_max=1)
    conn.connect(user, pw, wait=True)
    assert conn.is_connected()
    return conn


def refused(port: int, user: str, pw: str) -> bool:
    try:
        login(port, user, pw).disconnect()
    except ConnectFailedException:
        return True
    return False


def accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def new_broker(svc: Service, name: str, **kw: Any) -> tuple[str, str, dict[str, Any]]:
    pw = password()
    args: dict[str, Any] = dict(
        BrokerName=name,
        EngineType="ACTIVEMQ",
        DeploymentMode="SINGLE_INSTANCE",
        HostInstanceType="mq.t3.micro",
        PubliclyAccessible=False,
        Users=[{"Username": "admin", "Password": pw, "Groups": ["admins"]}],
    )
    args.update(kw)
    bid = svc.client().create_broker(**args)["BrokerId"]
    return bid, pw, svc.wait_state(bid, {"RUNNING", "CREATION_FAILED"})


def broker_pids(svc: Service, broker_id: str) -> list[int]:
    assert svc.proc is not None
    pids = []
    for p in psutil.Process(svc.proc.pid).children(recursive=True):
        try:
            if p.status() != psutil.STATUS_ZOMBIE and any(broker_id in part for part in p.cmdline()):
                pids.append(p.pid)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):  # a process that just died
            continue
    return pids


def test_creation_user_logs_in_over_stomp(svc: Service) -> None:
    bid, pw, desc = new_broker(svc, "real-login")
    assert desc["BrokerState"] == "RUNNING"
    port = stomp_port(desc)
    conn = login(port, "admin", pw)
    conn.disconnect()
    assert refused(port, "admin", "Wrong-password-123")
    # the broker binds loopback (publiclyAccessible=false)
    [pid] = broker_pids(svc, bid)
    laddrs = {c.laddr.ip for c in psutil.Process(pid).net_connections(kind="tcp") if c.status == "LISTEN"}
    assert laddrs == {"127.0.0.1"}


def test_new_user_logs_in_only_after_reboot_and_reboot_keeps_endpoints(svc: Service) -> None:
    mq = svc.client()
    bid, pw, desc = new_broker(svc, "real-reboot")
    port = stomp_port(desc)
    held = login(port, "admin", pw)
    bob_pw = password()
    mq.create_user(BrokerId=bid, Username="bob", Password=bob_pw)
    assert refused(port, "bob", bob_pw)  # pending until reboot
    mq.reboot_broker(BrokerId=bid)
    assert mq.describe_broker(BrokerId=bid)["BrokerState"] == "REBOOT_IN_PROGRESS"
    after = svc.wait_state(bid, {"RUNNING"})
    assert after["BrokerInstances"] == desc["BrokerInstances"]
    deadline = time.monotonic() + 5
    while held.is_connected() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not held.is_connected()  # the reboot dropped the client connection
    login(port, "bob", bob_pw).disconnect()
    login(port, "admin", pw).disconnect()
    mq.delete_user(BrokerId=bid, Username="bob")
    login(port, "bob", bob_pw).disconnect()  # deletion is pending too
    mq.reboot_broker(BrokerId=bid)
    svc.wait_state(bid, {"RUNNING"})
    assert refused(port, "bob", bob_pw)


def test_configuration_applies_at_reboot(svc: Service) -> None:
    mq = svc.client()
    bid, _, desc = new_broker(svc, "real-config")
    xml = (
        '<broker xmlns="http://activemq.apache.org/schema/core"><destinationPolicy><policyMap><policyEntries>'
        '<policyEntry queue="jobs.>" queuePrefetch="3"/></policyEntries></policyMap></destinationPolicy>'
        '<destinations><queue physicalName="jobs.in"/></destinations></broker>'
    )
    cid = desc["Configurations"]["Current"]["Id"]
    rev = mq.update_configuration(ConfigurationId=cid, Data=base64.b64encode(xml.encode()).decode())
    mq.update_broker(BrokerId=bid, Configuration={"Id": cid, "Revision": rev["LatestRevision"]["Revision"]})
    broker_file = svc.data_dir / "brokers" / bid / "instance-1.yaml"
    assert "jobs.>" not in broker_file.read_text()
    mq.reboot_broker(BrokerId=bid)
    svc.wait_state(bid, {"RUNNING"})
    applied = yaml.safe_load(broker_file.read_text())
    assert {"queue": "jobs.>", "queue_prefetch": 3} in applied["policies"]
    assert applied["destinations"] == ["queue://jobs.in"]
    assert oct(broker_file.stat().st_mode & 0o777) == "0o600"


def test_dead_broker_process_is_restarted(svc: Service) -> None:
    bid, pw, desc = new_broker(svc, "real-crash")
    port = stomp_port(desc)
    [pid] = broker_pids(svc, bid)
    psutil.Process(pid).kill()
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        pids = broker_pids(svc, bid)
        if pids and pids != [pid] and accepts(port):
            break
        time.sleep(0.1)
    else:
        log = (svc.data_dir / "brokers" / bid / "instance-1.log").read_text()[-2000:]
        raise AssertionError(f"the supervisor did not restart the broker; its log ends:\n{log}")
    login(port, "admin", pw).disconnect()


def test_delete_stops_processes_closes_ports_removes_data(svc: Service) -> None:
    bid, _, desc = new_broker(svc, "real-delete")
    port = stomp_port(desc)
    assert accepts(port) and broker_pids(svc, bid)
    svc.client().delete_broker(BrokerId=bid)
    deadline = time.monotonic() + 20
    while (svc.data_dir / "brokers" / bid).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not (svc.data_dir / "brokers" / bid).exists()
    assert not accepts(port) and not broker_pids(svc, bid)


def test_state_and_endpoints_survive_a_service_restart(svc: Service) -> None:
    mq = svc.client()
    bid, pw, desc = new_broker(svc, "real-restart", Tags={"keep": "me"})
    cid = mq.create_configuration(Name="survivor", EngineType="ACTIVEMQ")["Id"]
    svc.stop()
    assert not accepts(stomp_port(desc))
    svc.start()
    after = svc.wait_state(bid, {"RUNNING"})
    assert after["BrokerInstances"] == desc["BrokerInstances"] and after["Tags"] == {"keep": "me"}
    assert svc.client().describe_configuration(ConfigurationId=cid)["Name"] == "survivor"
    login(stomp_port(after), "admin", pw).disconnect()


def test_active_standby_runs_two_instances_on_one_store(svc: Service) -> None:
    bid, pw, desc = new_broker(
        svc, "real-pair", DeploymentMode="ACTIVE_STANDBY_MULTI_AZ", HostInstanceType="mq.m5.large"
    )
    assert desc["BrokerState"] == "RUNNING" and len(desc["BrokerInstances"]) == 2
    assert len(broker_pids(svc, bid)) == 2
    files = [
        yaml.safe_load((svc.data_dir / "brokers" / bid / f"instance-{n}.yaml").read_text()) for n in (1, 2)
    ]
    assert files[0]["data_dir"] == files[1]["data_dir"]


def test_standby_does_not_serve_while_active_lives_and_takes_over(svc: Service) -> None:
    bid, pw, desc = new_broker(
        svc, "real-lease", DeploymentMode="ACTIVE_STANDBY_MULTI_AZ", HostInstanceType="mq.m5.large"
    )
    serving = [accepts(stomp_port(desc, n)) for n in (0, 1)]
    assert sorted(serving) == [False, True]
    active = serving.index(True)
    conn = login(stomp_port(desc, active), "admin", pw)
    conn.send("/queue/ha", "kept", headers={"persistent": "true"}, receipt="r")
    time.sleep(0.5)
    conn.disconnect()
    # kill the active instance: the standby takes the store lease and serves
    cfg = yaml.safe_load((svc.data_dir / "brokers" / bid / "instance-1.yaml").read_text())
    from pathlib import Path

    holder = int((Path(cfg["data_dir"]) / "store.lock").read_text().strip())
    assert holder in broker_pids(svc, bid)
    psutil.Process(holder).kill()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not accepts(stomp_port(desc, 1 - active)):
        time.sleep(0.1)
    assert accepts(stomp_port(desc, 1 - active)), "the standby did not take over"
    got: list[str] = []

    class Listener(stomp.ConnectionListener):
        def on_message(self, frame: Any) -> None:
            got.append(frame.body)

    conn2 = login(stomp_port(desc, 1 - active), "admin", pw)
    conn2.set_listener("l", Listener())
    conn2.subscribe("/queue/ha", id="1", ack="auto")
    deadline = time.monotonic() + 10
    while not got and time.monotonic() < deadline:
        time.sleep(0.05)
    conn2.disconnect()
    assert got == ["kept"]


def test_tls_brokers_advertise_amazon_mq_schemes(service_factory: Callable[..., Service]) -> None:
    tls_svc = service_factory("20800-20849", tls_self_signed=True)
    bid, pw, desc = new_broker(tls_svc, "real-tls")
    assert desc["BrokerState"] == "RUNNING"
    urls = desc["BrokerInstances"][0]["Endpoints"]
    assert urls and all(
        u.split("://")[0] in ("ssl", "amqp+ssl", "stomp+ssl", "mqtt+ssl", "wss") for u in urls
    )
    port = stomp_port(desc)
    conn = stomp.Connection([("127.0.0.1", port)], reconnect_attempts_max=1)
    conn.set_ssl(for_hosts=[("127.0.0.1", port)], verify=False)
    conn.connect("admin", pw, wait=True)
    assert conn.is_connected()
    conn.disconnect()


def test_brokers_left_by_a_killed_service_are_replaced(svc: Service) -> None:
    bid, pw, desc = new_broker(svc, "real-orphan")
    [old] = broker_pids(svc, bid)
    assert svc.proc is not None
    svc.proc.kill()
    svc.proc.wait()
    assert psutil.pid_exists(old)  # its own session: it outlives the service
    svc.proc = None
    svc.start()
    after = svc.wait_state(bid, {"RUNNING"})
    assert after["BrokerInstances"] == desc["BrokerInstances"]
    assert not psutil.pid_exists(old) or psutil.Process(old).status() == psutil.STATUS_ZOMBIE
    # RUNNING means the replacement is up: not the stale process's ports answering while
    # the replacement waits for it to stop
    [new] = broker_pids(svc, bid)
    assert new != old
    login(stomp_port(after), "admin", pw).disconnect()
