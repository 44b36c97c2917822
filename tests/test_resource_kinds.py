"""Every kind of resource ops records is declared once, on the step type that makes it
(ops/model.py ResourceKind, StepType.kinds), and everything else reads it from there.

The meta-tests walk the registry: each declared kind must be findable and answerable in the
simulated account, its calls must be in its step types' IAM grants, and a step that records
a kind it does not declare fails at once. The last test adds a resource kind the project
does not have (an SNS topic) in one step module's worth of code, in this file, and shows
inventory, status and sweep handle it with no other change.
"""

import io
import json
from typing import List

import pytest
from harness import make_runner, playbook_from

from ops.commands.config import load_settings
from ops.commands.pricing import Prices
from ops.commands.status import lab_status
from ops.commands.sweep import deletable, delete
from ops.engine.inventory import find_tagged
from ops.errors import StepFailed
from ops.model import Change, Found, Resource, ResourceKind, tag_map
from ops.output import Reporter
from ops.permissions import Grant
from ops.steps import registry, resource_kinds
from ops.steps.base import REGISTRY, Output, Param, StepType
from ops.steps.dynamodb import Table

# ids no account has, in each kind's own format
MADE_UP_IDS = {
    "iam-role": "ops-no-such-role",
    "instance-profile": "ops-no-such-profile",
    "security-group": "sg-0123456789abcdef0",
    "ec2-instance": "i-0123456789abcdef0",
    "cloud9-environment": "0123456789abcdef0123456789abcdef",
    "cloud9-membership": "0123456789abcdef0123456789abcdef#arn:aws:iam::123456789012:user/ops-no-such-user",
    "ssm-parameter": "/ops/no-such/parameter",
    "cache-cluster": "ops-no-such-cluster",
    "replication-group": "ops-no-such-group",
    "cache-subnet-group": "ops-no-such-subnet-group",
    "dynamodb-table": "ops-no-such-table",
    "ingress-rule": "sgr-0123456789abcdef0",
    "schedule-group": "ops-no-such-group",
    "expiry-schedule": "ops-no-such-group/no-such-schedule",
}


def declaring_types(kind_name: str):
    return [t for t in registry().values() if any(k.name == kind_name for k in t.kinds)]


def granted_actions(step_type) -> set:
    return {action for grant in step_type.permissions for action in grant.actions}


def test_the_kinds_are_declared_once_each_in_one_creation_order():
    kinds = resource_kinds()  # raises if two step types declare one name differently
    assert all(isinstance(kind, ResourceKind) for t in registry().values() for kind in t.kinds)
    orders = [kind.creation_order for kind, _ in kinds.values()]
    assert len(set(orders)) == len(orders), "two kinds share a creation_order"
    assert set(MADE_UP_IDS) == {name for name, (kind, _) in kinds.items() if kind.find or kind.live_state}, (
        "a kind was added or removed: give it a made-up id here so the simulator is checked for it"
    )


@pytest.mark.parametrize("name", sorted(MADE_UP_IDS))
def test_each_kind_is_found_and_answered_by_the_simulated_account(name, aws):
    """Its finder runs against an empty simulated account, and asking for one that does not
    exist is answered with one of its not-found codes (so status says 'gone')."""
    kind, _ = resource_kinds()[name]
    if kind.find is not None:
        assert list(kind.find(aws)) == [] or all(isinstance(f, Found) for f in kind.find(aws))
    if kind.live_state is not None:
        assert kind.not_found, f"{name}: a live state needs the codes that mean it is gone"
        assert kind.state_of(aws, MADE_UP_IDS[name]) == "gone"


@pytest.mark.parametrize("name", sorted(resource_kinds()))
def test_each_kinds_calls_are_granted_by_every_step_type_that_records_it(name):
    kind, _ = resource_kinds()[name]
    for step_type in declaring_types(name):
        missing = set(kind.actions) - granted_actions(step_type)
        assert not missing, f"{step_type.name} records {name} but its permissions lack {sorted(missing)}"


def test_a_step_that_records_an_undeclared_kind_fails(aws, tmp_path, monkeypatch):
    monkeypatch.setattr(Table, "kinds", ())
    runner = make_runner(
        playbook_from(
            """\
            name: undeclared
            steps:
              - name: table
                type: dynamodb.table
                with: {table_name: t-undeclared, seed: false}
            """
        ),
        aws,
        tmp_path,
    )
    with pytest.raises(RuntimeError, match="records a dynamodb-table but does not declare that kind"):
        runner.apply()
    assert aws.client("dynamodb").list_tables()["TableNames"] == []  # refused before the create call


# --- a new resource kind, in one step module's worth of code ---------------------------------

TOPIC = "sns-topic"


def _find_topics(aws) -> List[Found]:
    sns = aws.client("sns")
    return [
        Found(
            TOPIC,
            topic["TopicArn"],
            "exists",
            tag_map(aws.call(sns.list_tags_for_resource, ResourceArn=topic["TopicArn"])["Tags"]),
        )
        for topic in aws.listing(sns, "list_topics", "Topics")
    ]


TOPIC_KIND = ResourceKind(
    TOPIC,
    creation_order=90,
    find=_find_topics,
    live_state=lambda aws, arn: aws.call(aws.client("sns").get_topic_attributes, TopicArn=arn) and "exists",
    not_found=("NotFound",),
    actions=("sns:GetTopicAttributes",),
)


class Topic(StepType):
    name = "sns.topic"
    summary = "An SNS topic (a test's own step type)."
    params = [Param("topic_name", required=True)]
    outputs = {"topic_arn": Output("its ARN", early=True)}
    kinds = (TOPIC_KIND,)
    permissions = [
        Grant(["sns:CreateTopic", "sns:TagResource", "sns:DeleteTopic", *TOPIC_KIND.actions], ["*"], why="a test's")
    ]

    def preview(self):
        return [Change("create", f"topic {self.args['topic_name']}")]

    def create(self):
        sns = self.ctx.client("sns")
        resource = self.ctx.intend(TOPIC, self.args["topic_name"])
        arn = self.ctx.call(sns.create_topic, Name=self.args["topic_name"], Tags=self.ctx.tags())["TopicArn"]
        resource.id = arn
        self.ctx.created(resource)
        return {"topic_arn": arn}

    def wait(self):
        return {}

    @classmethod
    def delete(cls, ctx, resource: Resource) -> None:
        ctx.call(ctx.client("sns").delete_topic, TopicArn=resource.id)


def topics_runner(aws, tmp_path, topic_name: str):
    """A runner for a lab of one sns.topic step named `topic_name`."""
    step = {"name": "alerts", "type": "sns.topic", "with": {"topic_name": topic_name}}
    return make_runner(playbook_from(json.dumps({"name": "topics", "steps": [step]})), aws, tmp_path)


@pytest.fixture
def topic_step_type():
    REGISTRY[Topic.name] = Topic
    yield Topic
    del REGISTRY[Topic.name]


def test_a_new_kind_declared_on_its_step_type_is_found_priced_and_swept(topic_step_type, aws, tmp_path):
    runner = topics_runner(aws, tmp_path, "alerts")
    runner.apply()
    arn = runner.outputs["alerts"]["topic_arn"]

    found = find_tagged(aws, lab="topics")  # inventory: by its tags, with no record
    assert [(f.kind, f.id, f.step_type) for f in found] == [(TOPIC, arn, "sns.topic")]
    status = lab_status(runner.state, aws, Prices.load())  # status: its live state
    assert [(row.resource.kind, row.live, row.hourly) for row in status.rows] == [(TOPIC, "exists", None)]

    yes, no = deletable(found)  # sweep: deleted through its step type, from tags alone
    assert (len(yes), no) == (1, [])
    settings, _, _ = load_settings(())
    left = delete(yes, aws, Reporter("json", io.StringIO(), aws.clock), settings)
    assert left == {f"topics/{runner.state.run_id}": []}
    assert aws.client("sns").list_topics()["Topics"] == []
    assert lab_status(runner.state, aws, Prices.load()).rows[0].live == "gone"


def test_a_failed_create_of_the_new_kind_is_explained_with_its_hints(topic_step_type, aws, tmp_path, monkeypatch):
    monkeypatch.setattr(Topic, "hints", {"InvalidParameter": "Topic names are letters, digits, - and _."})
    runner = topics_runner(aws, tmp_path, "no spaces allowed")
    with pytest.raises(StepFailed) as failed:
        runner.apply()
    assert "Topic names are letters, digits, - and _." in str(failed.value.hint)
