"""Every supported operation through boto3's `mq` client against a running `ferrymq service`.

Broker processes here are real `ferrymq serve` instances started by the service's
supervisor; the tests focus on the API: wire names, validation, errors, pagination.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from conftest import REGION, Service, password

XML_OK = b"""<?xml version="1.0" encoding="UTF-8"?>
<broker xmlns="http://activemq.apache.org/schema/core" schedulerSupport="true">
  <destinationPolicy><policyMap><policyEntries>
    <policyEntry queue="orders.>" queuePrefetch="5" bogusAttribute="1">
      <deadLetterStrategy><individualDeadLetterStrategy queuePrefix="DLQ." useQueueForQueueMessages="true"/></deadLetterStrategy>
    </policyEntry>
  </policyEntries></policyMap></destinationPolicy>
  <transportConnectors><transportConnector name="openwire" uri="tcp://0.0.0.0:61616"/></transportConnectors>
  <bean xmlns="http://www.springframework.org/schema/beans" class="x.Y"/>
</broker>"""


@pytest.fixture(scope="module")
def svc(service_factory: Callable[..., Service]) -> Service:
    return service_factory("20100-20399", None, security_groups={"office": ["10.0.0.0/8"]})


@pytest.fixture(scope="module")
def mq(svc: Service) -> Any:
    return svc.client()


def create(mq: Any, name: str, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = dict(
        BrokerName=name,
        EngineType="ACTIVEMQ",
        DeploymentMode="SINGLE_INSTANCE",
        HostInstanceType="mq.t3.micro",
        PubliclyAccessible=False,
        Users=[{"Username": "admin", "Password": password(), "ConsoleAccess": True, "Groups": ["admins"]}],
    )
    args.update(kw)
    return mq.create_broker(**args)


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str | None]:
    r = exc.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r.get("ErrorAttribute")


# ----------------------------------------------------------------------------- brokers
def test_create_describe_list_delete_broker(svc: Service, mq: Any) -> None:
    out = create(mq, "life-cycle", Tags={"team": "a"}, EngineVersion="5.18")
    bid = out["BrokerId"]
    assert bid.startswith("b-") and uuid.UUID(bid[2:])
    assert out["BrokerArn"] == f"arn:aws:mq:{REGION}:000000000000:broker:life-cycle:{bid}"
    first = mq.describe_broker(BrokerId=bid)
    assert first["BrokerState"] in ("CREATION_IN_PROGRESS", "RUNNING")
    desc = svc.wait_state(bid, {"RUNNING"})
    assert isinstance(desc["Created"], dt.datetime) and desc["Created"].tzinfo is not None
    assert desc["BrokerName"] == "life-cycle" and desc["EngineType"] == "ACTIVEMQ"
    assert desc["EngineVersion"] == "5.18" and desc["DeploymentMode"] == "SINGLE_INSTANCE"
    assert desc["Users"] == [{"Username": "admin"}]
    assert desc["Tags"] == {"team": "a"}
    assert desc["AutoMinorVersionUpgrade"] is True and desc["PubliclyAccessible"] is False
    assert desc["Configurations"]["Current"]["Revision"] == 1
    assert desc["Logs"]["GeneralLogGroup"].endswith(f"{bid}/general")
    [inst] = desc["BrokerInstances"]
    schemes = sorted(e.split("://")[0] for e in inst["Endpoints"])
    assert schemes == ["amqp", "mqtt", "stomp", "tcp", "ws"]
    assert inst["ConsoleURL"].startswith("http://127.0.0.1:")
    ports = [int(e.rsplit(":", 1)[1]) for e in inst["Endpoints"]]
    assert all(20100 <= p <= 20399 for p in ports) and len(set(ports)) == 5
    assert "Password" not in str(desc)
    summaries = mq.list_brokers()["BrokerSummaries"]
    assert bid in [s["BrokerId"] for s in summaries]
    assert mq.delete_broker(BrokerId=bid)["BrokerId"] == bid
    with pytest.raises(mq.exceptions.NotFoundException):
        for _ in range(300):
            state = mq.describe_broker(BrokerId=bid)["BrokerState"]
            assert state == "DELETION_IN_PROGRESS"
            import time

            time.sleep(0.05)
    assert not (svc.data_dir / "brokers" / bid).exists()


def test_active_standby_has_two_instances_on_distinct_ports(svc: Service, mq: Any) -> None:
    bid = create(mq, "pair", DeploymentMode="ACTIVE_STANDBY_MULTI_AZ", HostInstanceType="mq.m5.large")[
        "BrokerId"
    ]
    desc = svc.wait_state(bid, {"RUNNING"})
    assert len(desc["BrokerInstances"]) == 2
    all_ports = [int(e.rsplit(":", 1)[1]) for i in desc["BrokerInstances"] for e in i["Endpoints"]]
    assert len(set(all_ports)) == 10
    mq.delete_broker(BrokerId=bid)


def test_creator_request_id_replay_returns_the_same_broker(mq: Any) -> None:
    token = str(uuid.uuid4())
    a = create(mq, "idem", CreatorRequestId=token)
    b = create(mq, "idem", CreatorRequestId=token)
    assert a["BrokerId"] == b["BrokerId"]
    with pytest.raises(mq.exceptions.ConflictException) as exc:
        create(mq, "idem")
    assert error_of(exc) == ("ConflictException", 409, "brokerName")


@pytest.mark.parametrize(
    ("override", "attribute"),
    [
        ({"BrokerName": "bad name!"}, "brokerName"),
        ({"EngineType": "RABBITMQ"}, "engineType"),
        ({"DeploymentMode": "CLUSTER_MULTI_AZ"}, "deploymentMode"),
        ({"HostInstanceType": "mq.x9.huge"}, "hostInstanceType"),
        ({"DeploymentMode": "ACTIVE_STANDBY_MULTI_AZ"}, "hostInstanceType"),
        ({"EngineVersion": "5.15.0"}, "engineVersion"),
        ({"AuthenticationStrategy": "LDAP"}, "authenticationStrategy"),
        ({"Users": [{"Username": "u", "Password": "Secret-pass-1234"}]}, "username"),
        ({"Users": [{"Username": "user", "Password": "short"}]}, "password"),
        ({"Users": [{"Username": "user", "Password": "aaaaaaaaaaaaaaa"}]}, "password"),
        ({"Users": [{"Username": "user", "Password": "Secret-pass,1234"}]}, "password"),
        ({"Users": [{"Username": "user", "Password": "Secret-pass-1234", "Groups": ["g"] * 21}]}, "groups"),
        ({"Users": []}, "users"),
        ({"SecurityGroups": ["nope"]}, "securityGroups"),
        ({"MaintenanceWindowStartTime": {"DayOfWeek": "FUNDAY", "TimeOfDay": "01:00"}}, "dayOfWeek"),
        ({"EncryptionOptions": {"UseAwsOwnedKey": False, "KmsKeyId": "k"}}, "kmsKeyId"),
        ({"DataReplicationMode": "CRDR"}, "dataReplicationMode"),
        ({"AutoMinorVersionUpgrade": False}, "autoMinorVersionUpgrade"),
        ({"StorageType": "EBS"}, "storageType"),
    ],
)
def test_create_broker_validation(mq: Any, override: dict[str, Any], attribute: str) -> None:
    with pytest.raises(mq.exceptions.BadRequestException) as exc:
        create(mq, "invalid-" + uuid.uuid4().hex[:8], **override)
    code, status, attr = error_of(exc)
    assert (code, status, attr) == ("BadRequestException", 400, attribute)
    assert exc.value.response["Error"]["Message"]


def test_unknown_ids_are_404_on_every_route(mq: Any) -> None:
    missing = "b-" + str(uuid.uuid4())
    cmissing = "c-" + str(uuid.uuid4())
    calls = [
        lambda: mq.describe_broker(BrokerId=missing),
        lambda: mq.update_broker(BrokerId=missing, AutoMinorVersionUpgrade=True),
        lambda: mq.reboot_broker(BrokerId=missing),
        lambda: mq.delete_broker(BrokerId=missing),
        lambda: mq.list_users(BrokerId=missing),
        lambda: mq.describe_user(BrokerId=missing, Username="admin"),
        lambda: mq.create_user(BrokerId=missing, Username="someone", Password=password()),
        lambda: mq.describe_configuration(ConfigurationId=cmissing),
        lambda: mq.list_configuration_revisions(ConfigurationId=cmissing),
        lambda: mq.describe_configuration_revision(ConfigurationId=cmissing, ConfigurationRevision="1"),
        lambda: mq.update_configuration(ConfigurationId=cmissing, Data=base64.b64encode(XML_OK).decode()),
        lambda: mq.delete_configuration(ConfigurationId=cmissing),
        lambda: mq.list_tags(ResourceArn=f"arn:aws:mq:{REGION}:000000000000:broker:x:{missing}"),
    ]
    for call in calls:
        with pytest.raises(mq.exceptions.NotFoundException) as exc:
            call()
        assert error_of(exc)[1] == 404


def test_promote_and_unsupported_members_are_400(mq: Any) -> None:
    bid = create(mq, "promo")["BrokerId"]
    with pytest.raises(mq.exceptions.BadRequestException) as exc:
        mq.promote(BrokerId=bid, Mode="SWITCHOVER")
    assert error_of(exc)[2] == "mode"
    with pytest.raises(mq.exceptions.BadRequestException) as exc:
        mq.update_broker(BrokerId=bid, DataReplicationMode="CRDR")
    assert error_of(exc)[2] == "dataReplicationMode"


def test_list_brokers_paginates_with_stable_tokens(svc: Service, mq: Any) -> None:
    ids = [create(mq, f"page-{n}")["BrokerId"] for n in range(5)]
    seen: list[str] = []
    token = None
    while True:
        kw: dict[str, Any] = {"MaxResults": 2}
        if token:
            kw["NextToken"] = token
        page = mq.list_brokers(**kw)
        assert len(page["BrokerSummaries"]) <= 2
        seen += [b["BrokerId"] for b in page["BrokerSummaries"]]
        token = page.get("NextToken")
        if not token:
            break
    assert set(ids) <= set(seen) and len(seen) == len(set(seen))
    paginated = [
        b["BrokerId"]
        for p in mq.get_paginator("list_brokers").paginate(PaginationConfig={"PageSize": 3})
        for b in p["BrokerSummaries"]
    ]
    assert paginated == seen
    with pytest.raises(mq.exceptions.BadRequestException) as exc:
        mq.list_brokers(MaxResults=1000)
    assert error_of(exc)[2] == "maxResults"
    with pytest.raises(ParamValidationError):
        mq.list_brokers(MaxResults=0)
    with pytest.raises(mq.exceptions.BadRequestException) as exc:
        mq.list_brokers(NextToken="garbage!")
    assert error_of(exc)[2] == "nextToken"


def test_update_broker_is_pending_until_reboot(svc: Service, mq: Any) -> None:
    bid = create(mq, "upd", HostInstanceType="mq.m5.large")["BrokerId"]
    svc.wait_state(bid, {"RUNNING"})
    before = mq.describe_broker(BrokerId=bid)
    conf = mq.create_configuration(Name="upd-conf", EngineType="ACTIVEMQ", EngineVersion="5.18")
    out = mq.update_broker(
        BrokerId=bid,
        Configuration={"Id": conf["Id"], "Revision": 1},
        HostInstanceType="mq.m5.xlarge",
        EngineVersion="5.19",
        SecurityGroups=["office"],
        MaintenanceWindowStartTime={"DayOfWeek": "MONDAY", "TimeOfDay": "03:00", "TimeZone": "UTC"},
        Logs={"General": True},
    )
    assert out["BrokerId"] == bid and out["HostInstanceType"] == "mq.m5.xlarge"
    desc = mq.describe_broker(BrokerId=bid)
    assert desc["PendingHostInstanceType"] == "mq.m5.xlarge" and desc["HostInstanceType"] == "mq.m5.large"
    assert desc["PendingEngineVersion"] == "5.19" and desc["PendingSecurityGroups"] == ["office"]
    assert desc["Configurations"]["Pending"] == {"Id": conf["Id"], "Revision": 1}
    assert desc["MaintenanceWindowStartTime"]["DayOfWeek"] == "MONDAY"
    assert desc["Logs"]["Pending"] == {"General": True}
    with pytest.raises(mq.exceptions.ConflictException):
        mq.delete_configuration(ConfigurationId=conf["Id"])
    assert mq.reboot_broker(BrokerId=bid) is not None
    assert mq.describe_broker(BrokerId=bid)["BrokerState"] == "REBOOT_IN_PROGRESS"
    after = svc.wait_state(bid, {"RUNNING"})
    assert after["HostInstanceType"] == "mq.m5.xlarge" and "PendingHostInstanceType" not in after
    assert after["EngineVersion"] == "5.19" and after["SecurityGroups"] == ["office"]
    assert after["Configurations"]["Current"]["Id"] == conf["Id"]
    assert after["Configurations"]["History"] == [before["Configurations"]["Current"]]
    assert after["Logs"]["General"] is True
    assert after["BrokerInstances"] == before["BrokerInstances"]  # same endpoints after reboot
    # the security group's CIDR rules (plus the service's own probe) guard every listener
    import yaml

    applied = yaml.safe_load((svc.data_dir / "brokers" / bid / "instance-1.yaml").read_text())
    assert applied["HostInstanceType"] == "mq.m5.xlarge"
    assert all(spec["allow"] == ["10.0.0.0/8", "127.0.0.1/32"] for spec in applied["listeners"].values())


def test_publicly_accessible_decides_the_bind_address() -> None:
    from ferrymq.service.config import ServiceConfig
    from ferrymq.service.instances import bind_address

    cfg = ServiceConfig(private_address="10.1.2.3")
    assert bind_address(cfg, False) == "10.1.2.3"
    assert bind_address(cfg, True) == "0.0.0.0"
    assert bind_address(ServiceConfig(), False) == "127.0.0.1"


def test_reboot_in_wrong_state_is_400(svc: Service, mq: Any) -> None:
    bid = create(mq, "rb")["BrokerId"]
    svc.wait_state(bid, {"RUNNING"})
    mq.reboot_broker(BrokerId=bid)
    with pytest.raises(mq.exceptions.BadRequestException) as exc:
        mq.reboot_broker(BrokerId=bid)
    assert "REBOOT_IN_PROGRESS" in exc.value.response["Error"]["Message"]
    svc.wait_state(bid, {"RUNNING"})


# ------------------------------------------------------------------------------- users
def test_user_life_cycle_with_pending_changes(svc: Service, mq: Any) -> None:
    bid = create(mq, "users")["BrokerId"]
    svc.wait_state(bid, {"RUNNING"})
    assert mq.create_user(
        BrokerId=bid, Username="alice", Password=password(), Groups=["g1"], ConsoleAccess=False
    )
    with pytest.raises(mq.exceptions.ConflictException):
        mq.create_user(BrokerId=bid, Username="alice", Password=password())
    d = mq.describe_user(BrokerId=bid, Username="alice")
    assert d["Pending"]["PendingChange"] == "CREATE" and d["Pending"]["Groups"] == ["g1"]
    users = {u["Username"]: u.get("PendingChange") for u in mq.list_users(BrokerId=bid)["Users"]}
    assert users == {"admin": None, "alice": "CREATE"}
    mq.update_user(BrokerId=bid, Username="admin", Groups=["ops"], ConsoleAccess=False)
    d = mq.describe_user(BrokerId=bid, Username="admin")
    assert d["Groups"] == ["admins"] and d["ConsoleAccess"] is True
    assert d["Pending"] == {"PendingChange": "UPDATE", "Groups": ["ops"], "ConsoleAccess": False}
    with pytest.raises(mq.exceptions.NotFoundException):
        mq.update_user(BrokerId=bid, Username="nobody", Password=password())
    with pytest.raises(mq.exceptions.BadRequestException) as exc:
        mq.update_user(BrokerId=bid, Username="admin", Password="tiny")
    assert error_of(exc)[2] == "password"
    mq.reboot_broker(BrokerId=bid)
    svc.wait_state(bid, {"RUNNING"})
    d = mq.describe_user(BrokerId=bid, Username="admin")
    assert d["Groups"] == ["ops"] and d["ConsoleAccess"] is False and "Pending" not in d
    mq.delete_user(BrokerId=bid, Username="alice")
    assert mq.describe_user(BrokerId=bid, Username="alice")["Pending"]["PendingChange"] == "DELETE"
    mq.reboot_broker(BrokerId=bid)
    svc.wait_state(bid, {"RUNNING"})
    with pytest.raises(mq.exceptions.NotFoundException):
        mq.describe_user(BrokerId=bid, Username="alice")
    # a user created and deleted before any reboot simply disappears
    mq.create_user(BrokerId=bid, Username="temp", Password=password())
    mq.delete_user(BrokerId=bid, Username="temp")
    assert [u["Username"] for u in mq.list_users(BrokerId=bid)["Users"]] == ["admin"]


def test_list_users_paginates(mq: Any) -> None:
    bid = create(mq, "many-users")["BrokerId"]
    for n in range(6):
        mq.create_user(BrokerId=bid, Username=f"user{n}", Password=password())
    names: list[str] = []
    token = None
    while True:
        page = mq.list_users(BrokerId=bid, MaxResults=5, **({"NextToken": token} if token else {}))
        names += [u["Username"] for u in page["Users"]]
        token = page.get("NextToken")
        if not token:
            break
    assert names == ["admin"] + [f"user{n}" for n in range(6)]


# ------------------------------------------------------------------------ configurations
def test_configuration_revisions_and_sanitizer_warnings(mq: Any) -> None:
    conf = mq.create_configuration(
        Name="conf-1", EngineType="ACTIVEMQ", EngineVersion="5.18", Tags={"k": "v"}
    )
    cid = conf["Id"]
    assert cid.startswith("c-") and conf["Arn"].endswith(f":configuration:{cid}")
    assert conf["LatestRevision"]["Revision"] == 1 and conf["AuthenticationStrategy"] == "SIMPLE"
    out = mq.update_configuration(
        ConfigurationId=cid, Data=base64.b64encode(XML_OK).decode(), Description="second"
    )
    assert out["LatestRevision"]["Revision"] == 2 and out["LatestRevision"]["Description"] == "second"
    warnings = {(w["Reason"], w.get("ElementName"), w.get("AttributeName")) for w in out["Warnings"]}
    assert ("DISALLOWED_ELEMENT_REMOVED", "bean", None) in warnings
    assert ("DISALLOWED_ATTRIBUTE_REMOVED", "policyEntry", "bogusAttribute") in warnings
    assert ("DISALLOWED_ATTRIBUTE_REMOVED", "transportConnector", "uri") in warnings
    rev = mq.describe_configuration_revision(ConfigurationId=cid, ConfigurationRevision="2")
    xml = base64.b64decode(rev["Data"]).decode()
    assert "queuePrefetch" in xml and "bogusAttribute" not in xml and "springframework" not in xml
    assert rev["Description"] == "second"
    revs = mq.list_configuration_revisions(ConfigurationId=cid)
    assert [r["Revision"] for r in revs["Revisions"]] == [1, 2]
    page = mq.list_configuration_revisions(ConfigurationId=cid, MaxResults=1)
    assert [r["Revision"] for r in page["Revisions"]] == [1] and page["NextToken"]
    desc = mq.describe_configuration(ConfigurationId=cid)
    assert desc["LatestRevision"]["Revision"] == 2 and desc["Tags"] == {"k": "v"} and desc["Name"] == "conf-1"
    listed = mq.list_configurations(MaxResults=100)["Configurations"]
    assert cid in [c["Id"] for c in listed]
    assert mq.delete_configuration(ConfigurationId=cid)["ConfigurationId"] == cid
    with pytest.raises(mq.exceptions.NotFoundException):
        mq.describe_configuration(ConfigurationId=cid)


@pytest.mark.parametrize(
    "data",
    [
        "not base64 !!",
        base64.b64encode(b"<broker").decode(),
        base64.b64encode(b"<beans xmlns='http://www.springframework.org/schema/beans'/>").decode(),
        base64.b64encode(b"<broker/>").decode(),
        base64.b64encode(
            b'<!DOCTYPE x [<!ENTITY a "b">]><broker xmlns="http://activemq.apache.org/schema/core"/>'
        ).decode(),
    ],
)
def test_bad_configuration_data_is_refused_and_nothing_stored(mq: Any, data: str) -> None:
    cid = mq.create_configuration(Name="bad-data", EngineType="ACTIVEMQ")["Id"]
    with pytest.raises(mq.exceptions.BadRequestException) as exc:
        mq.update_configuration(ConfigurationId=cid, Data=data)
    assert error_of(exc)[2] == "data"
    assert [r["Revision"] for r in mq.list_configuration_revisions(ConfigurationId=cid)["Revisions"]] == [1]


def test_configuration_validation(mq: Any) -> None:
    with pytest.raises(mq.exceptions.BadRequestException) as exc:
        mq.create_configuration(Name="bad name", EngineType="ACTIVEMQ")
    assert error_of(exc)[2] == "name"
    with pytest.raises(mq.exceptions.BadRequestException) as exc:
        mq.create_configuration(Name="rabbit", EngineType="RABBITMQ")
    assert error_of(exc)[2] == "engineType"


# ---------------------------------------------------------------------------------- tags
def test_tags_on_brokers_and_configurations(mq: Any) -> None:
    arn = create(mq, "tagged", Tags={"a": "1"})["BrokerArn"]
    assert (
        mq.create_tags(ResourceArn=arn, Tags={"b key": "2", "c": "3"})["ResponseMetadata"]["HTTPStatusCode"]
        == 204
    )
    assert mq.list_tags(ResourceArn=arn)["Tags"] == {"a": "1", "b key": "2", "c": "3"}
    mq.delete_tags(ResourceArn=arn, TagKeys=["b key", "a"])
    assert mq.list_tags(ResourceArn=arn)["Tags"] == {"c": "3"}
    carn = mq.create_configuration(Name="tagged-conf", EngineType="ACTIVEMQ")["Arn"]
    mq.create_tags(ResourceArn=carn, Tags={"x": "y"})
    assert mq.list_tags(ResourceArn=carn)["Tags"] == {"x": "y"}
    with pytest.raises(mq.exceptions.BadRequestException):
        mq.list_tags(ResourceArn="not-an-arn")


# ----------------------------------------------------------------------------- catalogue
def test_engine_types_and_instance_options(mq: Any) -> None:
    types = mq.describe_broker_engine_types(EngineType="ACTIVEMQ")["BrokerEngineTypes"]
    assert types[0]["EngineType"] == "ACTIVEMQ"
    assert {"5.18", "5.19"} <= {v["Name"] for v in types[0]["EngineVersions"]}
    opts = mq.describe_broker_instance_options(EngineType="ACTIVEMQ", HostInstanceType="mq.m5.large")
    options = opts["BrokerInstanceOptions"]
    assert {o["StorageType"] for o in options} == {"EBS", "EFS"}
    efs = next(o for o in options if o["StorageType"] == "EFS")
    assert set(efs["SupportedDeploymentModes"]) == {"SINGLE_INSTANCE", "ACTIVE_STANDBY_MULTI_AZ"}
    assert efs["AvailabilityZones"][0]["Name"].startswith(REGION)
    micro = mq.describe_broker_instance_options(HostInstanceType="mq.t3.micro")["BrokerInstanceOptions"]
    assert micro[0]["SupportedDeploymentModes"] == ["SINGLE_INSTANCE"]
    page = mq.describe_broker_instance_options(MaxResults=5)
    assert len(page["BrokerInstanceOptions"]) == 5 and page["NextToken"]
    rest = mq.describe_broker_instance_options(MaxResults=100, NextToken=page["NextToken"])
    assert len(rest["BrokerInstanceOptions"]) == 4


# -------------------------------------------------------------------------- error shapes
def test_error_shape_on_the_wire(svc: Service) -> None:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(svc.url + "/v1/brokers")
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req, timeout=5)
    assert exc.value.code == 401
    assert exc.value.headers["x-amzn-ErrorType"] == "UnauthorizedException"
    assert exc.value.headers["Content-Type"].startswith("application/json")
    assert "message" in exc.value.read().decode()
