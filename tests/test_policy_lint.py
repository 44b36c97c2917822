"""The handed-out IAM policy, measured by the field's own tools.

policy_sentry (AWS's IAM database, offline) checks every grant a step type declares: the
action exists, each resource pattern is one of the action's resource ARN formats, each
condition key is one the action supports, and an action left on "*" has no resource type.
parliament (the IAM policy linter) lints every generated policy; a finding fails the test
unless EXPLAINED says why it is not a problem and the explanation holds for that finding.
"""

import fnmatch
import json
import re
from pathlib import Path

import parliament
import pytest
from harness import statements_allowing
from policy_sentry.querying.actions import get_action_data

from ops.commands.iam_policy import ALWAYS, Scope, policy_for, wildcard_reasons
from ops.engine.playbook import load_playbook
from ops.engine.records import parse_location
from ops.permissions import ANY, render
from ops.steps import registry

PLAYBOOKS = sorted((Path(__file__).resolve().parent.parent / "playbooks").glob("*.yaml"))
SAMPLE = {"partition": "aws", "region": "us-east-1", "account": "123456789012", "lab": "lab"}


def declared_grants():
    """(where, grant) for every grant of every step type, and ops's own (plan, doctor)."""
    found = [("ops", grant) for grant in ALWAYS]
    for name, step_type in sorted(registry().items()):
        found += [(name, grant) for grant in step_type.permissions]
    return found


def action_rows(action):
    service, name = action.split(":")
    rows = (get_action_data(service, name) or {}).get(service, [])
    return [row for row in rows if row["action"].lower() == action.lower()]


def format_pattern(arn_format):
    """An ARN format of AWS's database (arn:${Partition}:...:${TableName}) as a regex."""
    return re.compile("^" + re.sub(r"\\\$\\\{[^}]*\\\}", ".*", re.escape(arn_format)) + "$")


def sample_arn(template):
    """A template filled as a lab would (names: a sample; policy variables kept)."""
    names = dict(SAMPLE)
    names.update({key: "sample-name" for key in re.findall(r"\{(\w+)\}", template) if key not in names})
    return render(template, names)


def supported_keys(action):
    keys = {key for row in action_rows(action) for key in row["condition_keys"]}
    return [re.compile("^" + re.sub(r"\\\$\\\{[^}]*\\\}", ".+", re.escape(key)) + "$", re.IGNORECASE) for key in keys]


GRANTS = declared_grants()


@pytest.mark.parametrize("where, grant", GRANTS, ids=[f"{w}:{','.join(g.actions)}" for w, g in GRANTS])
def test_each_declared_grant_is_one_aws_knows(where, grant):
    for action in grant.actions:
        rows = action_rows(action)
        assert rows, f"{where}: {action} is not an action AWS knows"
        formats = [row["resource_arn_format"] for row in rows]
        if tuple(grant.resources) == (ANY,):
            assert grant.why, f"{where}: {action} is on '*' without a reason"
            assert set(formats) == {ANY}, f"{where}: {action} is on '*' but AWS names resources for it: {formats}"
            continue
        for template in grant.resources:
            arn = sample_arn(template)
            assert any(f != ANY and format_pattern(f).match(arn) for f in formats), (
                f"{where}: {action} on {template} matches none of {formats}"
            )
        keys = supported_keys(action)
        for block in grant.conditions.values():
            for key in block:
                assert any(k.match(key) for k in keys), f"{where}: {action} does not support the condition {key}"


def test_the_check_can_fail():
    """The database answers: a resource of another service, a key the action lacks, a "*"
    where AWS names a resource, are each caught."""
    assert not any(
        format_pattern(row["resource_arn_format"]).match("arn:aws:s3:::bucket")
        for row in action_rows("dynamodb:DeleteTable")
    )
    assert not any(k.match("iam:PassedToService") for k in supported_keys("dynamodb:DeleteTable"))
    assert {row["resource_arn_format"] for row in action_rows("dynamodb:DescribeTable")} != {ANY}
    assert action_rows("dynamodb:NoSuchAction") == []


def _granted_elsewhere(policy, finding):
    """RESOURCE_MISMATCH: parliament reads each statement alone and wants every resource type an
    action may need in that statement. ops splits an action's resources over statements when
    their conditions differ (the instance must carry the ops tag, AWS's own document cannot), and
    AWS allows a request when each resource it names is allowed by some statement. Explained
    when each resource format parliament missed is granted to the action by some statement
    (parliament also misses AWS-owned ARNs with an empty account field, as documents have)."""
    return all(
        any(
            fnmatch.fnmatchcase(resource, missing["required_format"])
            for statement in statements_allowing(policy, missing["action"])
            for resource in (
                [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
            )
        )
        for missing in finding.detail
    )


EXPLAINED = {"RESOURCE_MISMATCH": _granted_elsewhere}


def unexplained(policy):
    findings = parliament.analyze_policy_string(json.dumps(policy)).findings
    return [(f.issue, f.detail) for f in findings if not EXPLAINED.get(f.issue, lambda *_: False)(policy, f)]


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=[p.name for p in PLAYBOOKS])
@pytest.mark.parametrize("state", [None, "s3://team-ops-state/labs"])
@pytest.mark.parametrize("scope", [Scope(), Scope("eu-west-1", "123456789012")], ids=["any", "scoped"])
def test_parliament_finds_nothing_unexplained(playbook, state, scope):
    location = parse_location(state) if state else None
    assert unexplained(policy_for(load_playbook(playbook), location, scope)) == []


def test_the_lint_can_fail():
    """A statement granting an action on another service's resource is found, and not explained."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "dynamodb:DeleteTable", "Resource": "arn:aws:s3:::bucket"}],
    }
    assert [issue for issue, _ in unexplained(policy)] == ["RESOURCE_MISMATCH"]


def figures(playbook):
    """For the README: the actions left on "*" (with why) and parliament's findings, raw and unexplained."""
    policy = policy_for(load_playbook(playbook))
    on_any = sorted(
        {
            a
            for s in policy["Statement"]
            if s["Resource"] == ANY
            for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        }
    )
    findings = parliament.analyze_policy_string(json.dumps(policy)).findings  # once: it is the slow part
    left = [f for f in findings if not EXPLAINED.get(f.issue, lambda *_: False)(policy, f)]
    return on_any, len(findings), len(left)


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=[p.name for p in PLAYBOOKS])
def test_figures_only_actions_without_a_resource_type_stay_on_any(capsys, playbook):
    on_any, raw, left = figures(playbook)
    reasons = wildcard_reasons(load_playbook(playbook))
    assert set(on_any) == set(reasons) and left == 0
    assert all(not any(f != ANY for f in (r["resource_arn_format"] for r in action_rows(a))) for a in on_any)
    lines = [f'{playbook.name}: {len(on_any)} actions on "*", parliament {raw} finding(s), {left} unexplained']
    lines += [f"    {action}: {reasons[action]}" for action in on_any]
    with capsys.disabled():
        print("\n" + "\n".join(lines))
