"""Two different playbooks running at once in one account never touch each other's resources."""

import threading

from harness import make_runner, playbook_from

from ops.aws import Aws
from ops.clock import VirtualClock
from ops.engine.inventory import find_tagged
from ops.engine.runner import teardown
from ops.sim.world import SimWorld

LAB = """\
name: {name}
steps:
  - name: client
    type: cloud9.environment
    with:
      name: {name}-${{{{ run.id }}}}
  - name: redis
    type: elasticache.cluster
    with:
      cluster_id: {name}-${{{{ run.id }}}}
  - name: ingress
    type: ec2.ingress
    with:
      group_id: ${{{{ steps.redis.outputs.security_group_id }}}}
      port: 6379
      source_group_id: ${{{{ steps.client.outputs.security_group_id }}}}
"""


def default_group_rules(aws):
    ec2 = aws.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    group = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"][0]
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group["GroupId"]]}])
    return sorted(
        (r["IsEgress"], r.get("ReferencedGroupInfo", {}).get("GroupId", r.get("CidrIpv4")))
        for r in rules["SecurityGroupRules"]
    )


def test_two_labs_at_once_each_tear_down_only_their_own(tmp_path):
    with SimWorld(VirtualClock()) as world:
        aws = Aws(world.session(), world.region, world.clock, dry_run=True)
        before = default_group_rules(aws)
        runners = [
            make_runner(playbook_from(LAB.format(name=name)), aws, tmp_path / name) for name in ("alpha", "beta")
        ]
        errors = []

        def apply(runner):
            try:
                runner.apply()
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
            finally:
                world.clock.task_done()

        threads = []
        for runner in runners:
            world.clock.task_submitted()
            threads.append(threading.Thread(target=apply, args=(runner,)))
            threads[-1].start()
        with world.clock.blocked():
            for thread in threads:
                thread.join()
        assert errors == []
        alpha, beta = runners
        assert len(default_group_rules(aws)) == len(before) + 2  # one rule each, on the shared group

        teardown(alpha.state, aws, aws.clock, alpha.reporter, alpha.settings, "alpha")
        # the Cloud9 SSM role and profile that alpha made are still used by beta's instance: kept
        kept = alpha.reporter.stream.getvalue()
        assert '"kind": "instance-profile"' in kept and "the last lab using it deletes it" in kept
        assert {item.kind for item in find_tagged(aws, lab="alpha")} <= {"iam-role", "instance-profile"}
        beta_left = {item.kind for item in find_tagged(aws, lab="beta")}
        assert {"cloud9-environment", "cache-cluster", "ingress-rule"} <= beta_left
        assert len(default_group_rules(aws)) == len(before) + 1  # beta's rule is still there

        teardown(beta.state, aws, aws.clock, beta.reporter, beta.settings, "beta")
        assert find_tagged(aws) == []
        assert default_group_rules(aws) == before  # exactly the rules it had
