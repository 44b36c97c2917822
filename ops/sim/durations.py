"""How long simulated resources take to change (seconds): the dry run's timings.

Kept apart from the simulator so config checking can read it without importing moto.
"""

from typing import Dict

# Simulated durations in seconds. Where a figure is a typical observation rather than a
# documented one, it says so; override any of them through SimWorld(durations=...).
DEFAULT_DURATIONS: Dict[str, float] = {
    # Cloud9 docs: creation "can take several minutes" (a CloudFormation stack, an EC2
    # instance, the SSM connection); deletion tears the stack down.
    "cloud9.create": 150,
    "cloud9.delete": 60,
    # A single-node Redis cluster is typically available 5-10 minutes after the call;
    # boto3's waiter gives up after 10 minutes, Terraform after 40.
    "elasticache.create": 420,
    "elasticache.delete": 300,
    "elasticache.replication_group.create": 480,
    "elasticache.replication_group.delete": 360,
    # On-demand DynamoDB tables are usually ACTIVE within seconds.
    "dynamodb.create": 8,
    "dynamodb.delete": 5,
    # SSM Agent on a freshly launched EC2 instance registers "2-3 minutes after start".
    "ssm.register": 120,
    # After SendCommand, GetCommandInvocation says InvocationDoesNotExist for a moment
    # (botocore's command_executed waiter retries on exactly that), then InProgress until
    # the invocation ends.
    "ssm.invocation_delay": 1,
    "ssm.command": 2,
    # IAM is eventually consistent (sim/iam.py): its own reads of a role or instance profile
    # it just made answer NoSuchEntity for a moment, and EC2 ("Invalid IAM Instance Profile
    # name") and Cloud9 refuse a new one for a few seconds more (typical observations).
    "iam.consistency": 3,
    "iam.propagation": 8,
    # An instance is `pending` for a while after RunInstances, then `running`; `shutting-down`
    # for a while after TerminateInstances, then `terminated` (typical observations).
    "ec2.boot": 20,
    "ec2.shutdown": 30,
    # A terminated instance's network interface keeps its security groups in use for a while
    # (DeleteSecurityGroup: DependencyViolation) (a typical observation).
    "ec2.eni_linger": 45,
    # EventBridge Scheduler deletes a schedule group's schedules asynchronously after
    # DeleteScheduleGroup; the group answers DELETING meanwhile (a typical observation).
    "scheduler.group_delete": 5,
}
