"""A fake's answer read without the bytes (ops/sim/wire.py) is what botocore would read from
the bytes: moto's serializer writing it, botocore's parser reading it back."""

import datetime
from pathlib import Path

import harness
import pytest
from botocore.awsrequest import HeadersDict
from botocore.parsers import create_parser
from dateutil.tz import tzutc
from moto.core.serialize import get_serializer_class

from ops.engine.playbook import load_playbook
from ops.sim import wire
from ops.sim.sessions import _timestamp, isolated_session

PLAYBOOKS = Path(__file__).resolve().parent.parent.parent / "playbooks"
URL = "https://elasticache.us-east-1.amazonaws.com/"


def operation(service, name):
    return isolated_session("us-east-1").client(service).meta.service_model.operation_model(name)


def through_the_bytes(model, answer, request_id):
    """How every answer was read before the shortcut, written here without wire.py's help."""
    service = model.service_model
    serialized = get_serializer_class(service.service_name, service.protocol)(
        wire._operation(service.service_name, model.name)
    ).serialize(answer)
    parser = create_parser(service.resolved_protocol)
    parser._timestamp_parser = _timestamp
    headers = HeadersDict({**serialized["headers"], "x-amzn-RequestId": request_id})  # as AWSResponse's
    response = {"headers": headers, "status_code": serialized["status_code"], "body": serialized["body"].encode()}
    return parser.parse({**response, "context": {"operation_name": model.name}}, model.output_shape)


def read_by_a_sim_session(model, answer):
    """wire.answer's response, as a sim session's parser reads it; and its request id."""
    response = wire.answer(model, URL, answer)
    parser = wire.AnswerReadingParsers()
    parser.set_parser_defaults(timestamp_parser=_timestamp)
    response_dict = {
        "headers": response.headers,
        "status_code": response.status_code,
        "body": response.content,
        "context": {"operation_name": model.name},
    }
    read = parser.create_parser(model.service_model.resolved_protocol).parse(response_dict, model.output_shape)
    return read, response.headers["x-amzn-RequestId"]


def same(one, other):
    """Equal, and of the same types down to each timestamp's time zone (and key order)."""
    return one == other and repr(one) == repr(other)


def outcome(read, *args):
    """What read(*args) gives: ("read", the answer and its request id), or the error's class."""
    try:
        return "read", read(*args)
    except Exception as error:  # noqa: BLE001  (botocore refusing the bytes, either way)
        return "refused", type(error)


def assert_read_as_its_bytes(model, answer, monkeypatch, directly):
    """The answer reads as its bytes would; `directly`: without them (else through them)."""
    serialized = []
    through_them = wire._AnswerReader.parse_serialized
    monkeypatch.setattr(
        wire._AnswerReader, "parse_serialized", lambda *args: serialized.append(1) or through_them(*args)
    )
    how, read = outcome(read_by_a_sim_session, model, answer)
    assert bool(serialized) is not directly
    if how == "refused":  # what botocore makes of the bytes, the shortcut must not hide
        assert outcome(through_the_bytes, model, answer, "any") == (how, read)
        return
    answered, request_id = read
    assert same(answered, through_the_bytes(model, answer, request_id))


@pytest.mark.managed_policies  # the labs attach AWS managed policies
@pytest.mark.parametrize("playbook", ["lab.yaml", "lab-secure.yaml", "lab-ec2.yaml", "lab-valkey.yaml"])
def test_every_answer_of_a_whole_dry_run_reads_as_its_bytes_would(playbook, tmp_path, monkeypatch):
    checked, read_directly = [], []
    shortcut = wire._AnswerReader.read

    def read_both_ways(reader, body, response, shape):
        try:
            read = shortcut(reader, body, response, shape)
        except wire._Unsure:
            read = None
        reference = through_the_bytes(body.model, body.answer, response["headers"]["x-amzn-RequestId"])
        checked.append(body.model.name)
        if read is not None:
            assert same(read, reference), f"{body.model.name}:\n{read!r}\n!=\n{reference!r}"
            read_directly.append(body.model.name)
        return reference

    monkeypatch.setattr(wire._AnswerReader, "read", read_both_ways)
    book = load_playbook(str(PLAYBOOKS / playbook), {"demo_reads": 5} if playbook == "lab.yaml" else {})
    code, _events = harness.rehearse_faults(tmp_path, book, None)
    assert code == 0
    assert len(checked) > 50  # the fakes' polls, creations and deletions
    assert len(read_directly) >= 0.9 * len(checked), sorted(set(checked) - set(read_directly))


CLUSTER = {
    "CacheClusterId": "lab",
    "CacheClusterStatus": "available",
    "NumCacheNodes": 1,
    "AutoMinorVersionUpgrade": True,
    "CacheClusterCreateTime": datetime.datetime(2026, 12, 4, 17, 0, 1, 234567, tzinfo=tzutc()),
    "CacheSecurityGroups": [],
    "PendingModifiedValues": {},
    "SecurityGroups": [{"SecurityGroupId": "sg-1", "Status": "active"}],
    "NotAMember": "dropped",
    "ConfigurationEndpoint": None,
}


@pytest.mark.parametrize(
    "change, directly",
    [
        ({}, True),
        ({"CacheClusterId": "line\r\nbreak"}, False),  # XML reads \r back as \n
        ({"CacheClusterId": "tab\tand\x07bell"}, False),  # not XML at all: botocore refuses the bytes
        ({"NumCacheNodes": "1"}, False),  # a number as text: moto writes it, botocore reads a number
        ({"AutoMinorVersionUpgrade": "true"}, False),
        ({"SecurityGroups": [{}]}, False),  # XML drops an empty structure from a list
        ({"SecurityGroups": [{"SecurityGroupId": None}]}, False),
        ({"CacheClusterCreateTime": datetime.datetime(2026, 12, 4, 17, 0, 1)}, True),  # naive: as UTC
        ({"CacheClusterStatus": ""}, True),
    ],
)
def test_an_xml_answer_reads_as_its_bytes_would_whatever_its_values(change, directly, monkeypatch):
    model = operation("elasticache", "DescribeCacheClusters")
    assert_read_as_its_bytes(model, {"CacheClusters": [{**CLUSTER, **change}], "Marker": "m"}, monkeypatch, directly)


@pytest.mark.parametrize(
    "change, directly",
    [
        ({}, True),
        ({"createdTime": datetime.datetime(2026, 12, 4, 17, 0, 1, 999999, tzinfo=tzutc())}, True),  # ms on the wire
        ({"createdTime": datetime.datetime(2026, 12, 4, 17, 0, 1, tzinfo=tzutc())}, True),  # whole: an int
        ({"description": "line\r\nbreak"}, True),  # JSON keeps it
        ({"lifecycle": {"status": "CREATED"}}, True),
        ({"name": 7}, False),
    ],
)
def test_a_json_answer_reads_as_its_bytes_would_whatever_its_values(change, directly, monkeypatch):
    model = operation("cloud9", "DescribeEnvironments")
    environment = {
        "id": "e1",
        "name": "lab",
        "type": "ec2",
        "arn": "arn:aws:cloud9:us-east-1:123456789012:environment:e1",
        "ownerArn": "arn:aws:iam::123456789012:user/u",
        "createdTime": datetime.datetime(2026, 12, 4, 17, 0, 1, 500000, tzinfo=tzutc()),
    }
    assert_read_as_its_bytes(model, {"environments": [{**environment, **change}]}, monkeypatch, directly)


def test_a_rest_answer_reads_as_its_bytes_would_and_one_with_members_in_headers_goes_through_them(monkeypatch):
    schedule = {"Name": "s", "GroupName": "g", "State": "ENABLED"}
    assert_read_as_its_bytes(operation("scheduler", "GetSchedule"), schedule, monkeypatch, directly=True)
    put = {"ETag": '"abc"', "VersionId": "v1"}
    assert_read_as_its_bytes(operation("s3", "PutObject"), put, monkeypatch, directly=False)
