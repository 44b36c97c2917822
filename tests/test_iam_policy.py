"""`ops iam-policy`: the policy covers every AWS call a run and its teardown make, on the
resources they touch, and grants nothing on "*" that AWS lets a policy name."""

import fnmatch
import json
import re
from pathlib import Path

from click.testing import CliRunner
from harness import ON_THE_HOST, allowed_actions, calls_of_a_run_and_teardown, statements_allowing, touched_resources

from ops.cli import cli
from ops.commands.iam_policy import Scope, policy_for, wildcard_reasons
from ops.engine.playbook import load_playbook

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "playbooks" / "lab.yaml"


def listed(value):
    return [value] if isinstance(value, str) else value


def uncovered(policy, calls, partition, account):
    """(action, ARN) of each call no statement allows on the resource it touched."""
    return [
        (action, arn)
        for action, arn in touched_resources(calls, partition, account)
        if action not in ON_THE_HOST
        and not any(
            fnmatch.fnmatchcase(arn, pattern)
            for s in statements_allowing(policy, action)
            for pattern in listed(s["Resource"])
        )
    ]


def run_and_check(playbook_path, tmp_path, monkeypatch):
    """Run, tear down; the policy for the simulated account's region and account must allow every
    call on its resources. Returns the policy and the calls."""
    playbook = load_playbook(playbook_path)
    detail = []
    calls, left, (account, region) = calls_of_a_run_and_teardown(
        playbook,
        tmp_path,
        monkeypatch,
        detail=detail,
        inspect=lambda world, runner: (world.client("sts").get_caller_identity()["Account"], world.region),
    )
    assert calls and left == []
    scope = Scope(region=region, account=account)
    policy = policy_for(playbook, scope=scope)
    assert calls - allowed_actions(policy) - ON_THE_HOST == set()  # the demo's reads: on the host
    assert uncovered(policy, detail, scope.partition, account) == []
    return policy, detail, region


def test_the_policy_allows_every_call_of_a_run_and_its_teardown_on_its_resources(tmp_path, monkeypatch):
    policy, detail, region = run_and_check(LAB, tmp_path, monkeypatch)
    touched = dict(touched_resources(detail, "aws", "123456789012"))
    assert "elasticache:CreateCacheCluster" in touched and "iam:PassRole" not in touched  # PassRole: no call of its own
    # the check can fail: the same calls are not all allowed by a policy for another account
    other = policy_for(load_playbook(LAB), scope=Scope(region=region, account="111122223333"))
    assert ("elasticache:CreateCacheCluster", touched["elasticache:CreateCacheCluster"]) in uncovered(
        other, detail, "aws", "123456789012"
    )


def test_the_command_prints_a_valid_policy_scoped_to_the_lab():
    result = CliRunner().invoke(cli, ["iam-policy", str(LAB), "--region", "eu-west-1", "--account", "123456789012"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["Version"] == "2012-10-17"
    resources = [r for s in doc["Statement"] for r in listed(s["Resource"]) if r != "*"]
    assert resources and all(r.startswith("arn:aws:") for r in resources)
    assert "arn:aws:elasticache:eu-west-1:123456789012:cluster:ops-lab-*" in resources
    assert "arn:aws:dynamodb:eu-west-1:123456789012:table/ops-lab-reviews-*" in resources
    # only actions AWS names no resource for are on "*"
    on_any = {a for s in doc["Statement"] if s["Resource"] == "*" for a in listed(s["Action"])}
    assert on_any == set(wildcard_reasons(load_playbook(LAB)))
    assert all(not a.startswith(("iam:", "dynamodb:")) for a in on_any)


def test_arns_are_built_from_the_regions_partition():
    for region, partition in (("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")):
        result = CliRunner().invoke(cli, ["iam-policy", str(LAB), "--region", region])
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        arns = [r for s in doc["Statement"] for r in listed(s["Resource"]) if r != "*"]
        assert arns and all(r.startswith(f"arn:{partition}:") for r in arns), region


def test_no_policy_module_writes_a_literal_aws_partition():
    sources = [ROOT / "ops" / name for name in ("permissions.py", "commands/iam_policy.py", "commands/doctor.py")]
    sources += sorted((ROOT / "ops" / "steps").glob("*.py"))
    assert [str(p) for p in sources if re.search(r"arn:aws[:-]", p.read_text())] == []


def test_a_bad_account_is_refused_with_the_fix():
    result = CliRunner().invoke(cli, ["iam-policy", str(LAB), "--account", "12345"])
    assert result.exit_code == 2
    assert "is not an AWS account id" in result.output and "12 digits" in result.output
    assert "Traceback" not in result.output


def test_pass_role_and_run_command_are_limited_to_the_labs_own():
    for name in ("lab.yaml", "lab-ec2.yaml"):
        policy = policy_for(load_playbook(ROOT / "playbooks" / name))
        to_ec2, to_scheduler = sorted(
            statements_allowing(policy, "iam:PassRole"),
            key=lambda s: s["Condition"]["StringEquals"]["iam:PassedToService"],
        )
        assert to_ec2["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
        # the dead man's switch's execution role, to EventBridge Scheduler alone
        assert to_scheduler["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
        assert re.fullmatch(r"arn:aws:iam::\*:role/ops-switch-[a-z0-9-]+\*", to_scheduler["Resource"]), to_scheduler
        pass_role = to_ec2
        assert all(
            re.fullmatch(r"arn:aws:iam::\*:role/(ops-\*-host|service-role/AWSCloud9SSMAccessRole)", r)
            for r in listed(pass_role["Resource"])
        ), pass_role
        send = statements_allowing(policy, "ssm:SendCommand")
        documents = [s for s in send if "document/" in str(s["Resource"])]
        instances = [s for s in send if "instance/" in str(s["Resource"])]
        assert [s["Resource"] for s in documents] == ["arn:aws:ssm:*::document/AWS-RunShellScript"]
        assert instances and all(s["Condition"] == {"Null": {"aws:ResourceTag/ops:lab": "false"}} for s in instances)
        assert len(send) == len(documents) + len(instances)
        # roles get only the AWS managed policies the lab attaches
        for attach in statements_allowing(policy, "iam:AttachRolePolicy"):
            assert set(listed(attach["Condition"]["ArnEquals"]["iam:PolicyARN"])) <= {
                "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
                "arn:aws:iam::aws:policy/AWSCloud9SSMInstanceProfile",
            }


def test_a_cloud9_lab_may_create_only_cloud9s_service_linked_role():
    [linked] = statements_allowing(policy_for(load_playbook(LAB)), "iam:CreateServiceLinkedRole")
    assert linked["Condition"] == {"StringEquals": {"iam:AWSServiceName": "cloud9.amazonaws.com"}}
    assert linked["Resource"].endswith(":role/aws-service-role/cloud9.amazonaws.com/AWSServiceRoleForAWSCloud9*")
    assert (
        statements_allowing(
            policy_for(load_playbook(ROOT / "playbooks" / "lab-ec2.yaml")), "iam:CreateServiceLinkedRole"
        )
        == []
    )


def test_names_follow_the_playbook_vars():
    result = CliRunner().invoke(
        cli,
        [
            "iam-policy",
            str(ROOT / "playbooks" / "lab-ec2.yaml"),
            "--var",
            "cluster_id=team-a-${{ run.id }}",
            "--var",
            "node_type=cache.t4g.micro",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    [create] = [s for s in statements_allowing(doc, "elasticache:CreateCacheCluster") if ":cluster:" in str(s)]
    assert listed(create["Resource"]) == ["arn:aws:elasticache:us-east-1:*:cluster:team-a-*"]
    assert create["Condition"]["StringLike"]["elasticache:CacheNodeType"] == "cache.t4g.micro"
    assert create["Condition"]["StringLike"]["aws:RequestTag/ops:lab"] == "elasticache-lab-ec2*"


def test_the_token_parameter_is_scoped_to_the_labs_own_or_the_users():
    secure = ROOT / "playbooks" / "lab-secure.yaml"
    put = statements_allowing(policy_for(load_playbook(secure)), "ssm:PutParameter")
    assert [s["Resource"] for s in put] == ["arn:aws:ssm:*:*:parameter/ops/elasticache-lab-secure*/*/cache/auth-token"]
    users = policy_for(load_playbook(secure, {"auth_token": "ssm:/team/redis-token"}))
    assert statements_allowing(users, "ssm:PutParameter") == []
    assert any(
        s["Resource"] == "arn:aws:ssm:*:*:parameter/team/redis-token"
        for s in statements_allowing(users, "ssm:GetParameter")
    )


def test_what_ops_adds_to_the_instance_role_names_the_labs_own_arns(tmp_path, monkeypatch):
    """The inline policies ops puts on the host's role (the table, the token parameter) name
    exactly the run's table and parameter, in the region's partition."""
    playbook = load_playbook(ROOT / "playbooks" / "lab-secure.yaml")
    detail = []
    calls_of_a_run_and_teardown(playbook, tmp_path, monkeypatch, detail=detail)
    documents = [json.loads(params["PolicyDocument"]) for action, params, _ in detail if action == "iam:PutRolePolicy"]
    assert len(documents) == 3  # the PING's token, the demo's table and token, the lesson's table and token
    table = next(p["TableName"] for a, p, _ in detail if a == "dynamodb:CreateTable")
    parameter = next(p["Name"] for a, p, _ in detail if a == "ssm:PutParameter")
    resources = {r for d in documents for s in d["Statement"] for r in listed(s["Resource"])}
    assert all(":" in r and "*" not in r for r in resources)
    assert {r.rsplit(":", 1)[-1] for r in resources} == {f"table/{table}", f"parameter{parameter}"}
    assert all(r.startswith("arn:aws:") for r in resources)


def test_the_plan_says_what_the_aws_managed_instance_policy_grants():
    result = CliRunner().invoke(
        cli, ["plan", str(ROOT / "playbooks" / "lab-ec2.yaml"), "--dry-run"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if "AmazonSSMManagedInstanceCore" in line)
    assert "AWS managed" in line and "ssm:UpdateInstanceInformation" in line and "ssmmessages:*" in line


def test_the_doctor_simulates_each_statement_on_the_labs_resources(world):
    from harness import ok_response

    from ops.aws import Aws
    from ops.commands.doctor import diagnose

    asked = []

    def simulate(**_):
        params = asked[-1]
        denied = "CreateCacheCluster" in str(params["ActionNames"]) and "ResourceArns" in params
        return ok_response(
            {
                "EvaluationResults": [
                    {
                        "EvalActionName": a,
                        "EvalResourceName": "*",
                        "EvalDecision": "implicitDeny"
                        if denied and a == "elasticache:CreateCacheCluster"
                        else "allowed",
                    }
                    for a in params["ActionNames"]
                ]
            }
        )

    session = world.session()
    session.events.register(
        "provide-client-params.iam.SimulatePrincipalPolicy", lambda params, **_: asked.append(dict(params))
    )
    session.events.register_first("before-call.iam.SimulatePrincipalPolicy", simulate)
    findings = diagnose(Aws(session, world.region, world.clock, dry_run=True), load_playbook(LAB))
    creates = [a for a in asked if "elasticache:CreateCacheCluster" in a["ActionNames"]]
    scoped = [a for a in creates if any(":cluster:" in r for r in a.get("ResourceArns", []))]
    assert scoped and all(f":{world.region}:" in r for a in scoped for r in a["ResourceArns"])
    context = {e["ContextKeyName"]: e["ContextKeyValues"] for e in scoped[0]["ContextEntries"]}
    assert context["aws:RequestTag/ops:lab"] == ["elasticache-labx"] and "elasticache:CacheNodeType" in context
    problems = [f.text for f in findings if f.level == "problem"]
    assert any("elasticache:CreateCacheCluster" in p and "ops iam-policy" in p for p in problems)


def test_a_policy_too_big_for_iam_is_split_into_policies_that_each_fit():
    from ops.commands.iam_policy import MANAGED_POLICY_LIMIT, policy_size

    secure = ROOT / "playbooks" / "lab-secure.yaml"
    args = ["iam-policy", str(secure), "--region", "us-east-1", "--account", "123456789012"]
    whole = CliRunner().invoke(cli, args)
    policy = json.loads(whole.stdout)
    assert whole.exit_code == 0 and policy_size(policy) > MANAGED_POLICY_LIMIT
    assert "--split" in whole.stderr and "6,144" in whole.stderr  # said where people look, not in the JSON

    split = CliRunner().invoke(cli, args + ["--split"])
    parts = json.loads(split.stdout)
    assert split.exit_code == 0 and len(parts) >= 2 and f"{len(parts)} policies" in split.stderr
    assert all(policy_size(part) <= MANAGED_POLICY_LIMIT and part["Version"] == "2012-10-17" for part in parts)
    assert [s for part in parts for s in part["Statement"]] == policy["Statement"]  # together: exactly the same


def test_a_policy_that_fits_prints_no_note(tmp_path):
    # the whole lab's policy no longer fits since its dead man's switch (issue 17): a table's does
    table = tmp_path / "table.yaml"
    table.write_text("name: t\nsteps:\n  - name: t\n    type: dynamodb.table\n    with: {table_name: t-x}\n")
    result = CliRunner().invoke(cli, ["iam-policy", str(table)])
    assert result.exit_code == 0 and result.stderr == "" and json.loads(result.stdout)["Statement"]
    assert "scheduler:CreateSchedule" in result.stdout  # a table bills: the switch is in it
