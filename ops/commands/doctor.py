"""`ops doctor`: before any lab, check and explain what would stop it in this account.

Each check says what it found and, for a problem, what to do. Checks that the account (or
the simulator) cannot answer say so instead of guessing. The last line is the verdict.
"""

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

from ..aws import aws_failure, error_code
from ..engine.playbook import Playbook
from ..engine.target import RunTarget
from ..refs import REF
from .iam_policy import Scope, policy_for
from .plan import PREVIOUS_GENERATION, Finding, _checks
from .session_tools import session_tool_findings

UNANSWERED = "could not check"


def diagnose(aws, playbook: Optional[Playbook], location=None, machine: Sequence[Finding] = ()) -> List[Finding]:
    """location: where records are kept (S3), if not in this folder; machine: what was found of
    this machine's tools, said once the account answers (unreachable, that is the one problem)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        identity = aws.call(aws.client("sts").get_caller_identity)
    except (ClientError, BotoCoreError) as exc:  # unreachable, or credentials refused: the first thing to fix
        failure = aws_failure(exc)
        if failure is None:
            raise
        return [Finding("problem", str(failure))]
    caller, account = identity["Arn"], identity["Account"]
    findings = [Finding("ok", f"credentials work: {caller} (account {account}), region {aws.region}.")]
    findings.extend(machine)
    findings.extend(_checks(playbook, aws) if playbook else [])
    findings.append(_default_subnets(aws))
    if location is not None:
        findings.append(_records(aws, location))
    if playbook:
        findings.extend(_node_types(aws, playbook))
        if any(kind.switch for step in playbook.steps for kind in step.step_type.kinds):
            findings.append(_guarded("EventBridge Scheduler", lambda: _scheduler(aws)))
        findings.append(_permissions(aws, caller, account, playbook, location))
        findings.append(_guarded("service quotas", lambda: _node_quota(aws, playbook)))
    return findings


def _records(aws, location) -> Finding:
    """Can these credentials see the S3 prefix where the team's records are kept? (read-only)"""
    from ..engine.records import S3Records
    from ..errors import OpsError

    try:
        labs = S3Records(location, aws).slots()
    except OpsError as exc:
        if aws.dry_run:
            return Finding(
                "note", f"records in {location.url}: dry runs make this bucket in the simulated account on first use."
            )
        return Finding("problem", f"records in {location.url}: {exc}")
    return Finding("ok", f"records in {location.url}: the bucket answers; {len(labs)} lab record(s) there.")


def _node_quota(aws, playbook: Playbook) -> Finding:
    """Would the lab's cache nodes fit in the account's 'Nodes per Region' quota?"""
    needed = sum(1 for step in playbook.steps if step.type.startswith("elasticache."))
    quotas = aws.call(aws.client("service-quotas").list_service_quotas, ServiceCode="elasticache")["Quotas"]
    nodes = next((q for q in quotas if "nodes per region" in q["QuotaName"].lower()), None)
    if nodes is None:
        return Finding("note", "service quotas: could not find ElastiCache's nodes-per-region quota.")
    elasticache = aws.client("elasticache")
    used = sum(c.get("NumCacheNodes", 1) for c in aws.call(elasticache.describe_cache_clusters)["CacheClusters"])
    limit = int(nodes["Value"])
    if used + needed > limit:
        return Finding(
            "problem",
            f"ElastiCache nodes: {used} in use + {needed} for the lab > the quota of {limit} in "
            f"{aws.region}: delete unused clusters or ask for more in Service Quotas.",
        )
    return Finding("ok", f"ElastiCache nodes: {used} in use + {needed} for the lab, within the quota of {limit}.")


def verdict(findings: List[Finding]) -> str:
    problems = [f for f in findings if f.level == "problem"]
    if problems:
        return f"Not ready. Fix first: {problems[0].text}"
    return "Ready."


def _guarded(what: str, check: Callable[[], Finding]) -> Finding:
    from botocore.exceptions import ClientError  # codes from several services (service quotas, ElastiCache)

    try:
        return check()
    except NotImplementedError:
        return Finding("note", f"{what}: {UNANSWERED} (the simulated account does not implement it).")
    except ClientError as exc:
        if error_code(exc) in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
            return Finding("note", f"{what}: {UNANSWERED} (your credentials may not ask: {error_code(exc)}).")
        if error_code(exc) == "NoSuchResourceException":
            return Finding("note", f"{what}: {UNANSWERED} (the account answered: {error_code(exc)}).")
        raise


def _default_subnets(aws) -> Finding:
    ec2 = aws.client("ec2")
    subnets = aws.call(ec2.describe_subnets, Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    if not subnets:
        return Finding(
            "problem",
            f"{aws.region} has no default subnets: create the default VPC "
            "('aws ec2 create-default-vpc') or pass subnet ids to the steps.",
        )
    return Finding("ok", f"{len(subnets)} default subnet(s) in {aws.region}.")


def _scheduler(aws) -> Finding:
    """Can the account arm the dead man's switch here: is EventBridge Scheduler in this region,
    and does it answer?"""
    from botocore.exceptions import BotoCoreError

    from ..permissions import partition_of

    partition = partition_of(aws.region)
    if aws.region not in aws.session.get_available_regions("scheduler", partition_name=partition):
        return Finding("problem", SCHEDULER_MISSING.format(region=aws.region, why="botocore lists no endpoint there"))
    try:
        aws.call(aws.client("scheduler").list_schedule_groups, MaxResults=1)
    except BotoCoreError as exc:  # no endpoint answers (a client error is answered, and _guarded's)
        return Finding(
            "problem", SCHEDULER_MISSING.format(region=aws.region, why=f"its endpoint did not answer: {exc}")
        )
    return Finding(
        "ok",
        f"EventBridge Scheduler answers in {aws.region}: each billable resource gets a schedule deleting it at the lab's expiry.",
    )


SCHEDULER_MISSING = (
    "EventBridge Scheduler is not available in {region} ({why}), so the dead man's switch cannot be "
    "armed: run the lab in a region that has it (see 'AWS Regional Services'), or run with --ttl none "
    "and tear it down yourself."
)


def _node_types(aws, playbook: Playbook) -> List[Finding]:
    findings = []
    for step in playbook.steps:
        node = step.args.get("node_type")
        if not isinstance(node, str) or REF.search(node) or node.startswith(PREVIOUS_GENERATION):
            continue  # previous generation: _checks already warned

        def offered(node=node, step=step) -> Finding:
            client = aws.client("elasticache")
            offers = aws.call(client.describe_reserved_cache_nodes_offerings, CacheNodeType=node, MaxRecords=20)[
                "ReservedCacheNodesOfferings"
            ]
            if not offers:
                return Finding(
                    "warning",
                    f"step '{step.name}': {node} shows no offerings in {aws.region}; "
                    "it may not be available here: try cache.t3.micro or another region.",
                )
            return Finding("ok", f"step '{step.name}': {node} is offered in {aws.region}.")

        findings.append(_guarded(f"node type {node}", offered))
    return findings


def _principal(caller_arn: str) -> str:
    """The IAM principal to simulate: an assumed role's role, else the caller itself."""
    if ":assumed-role/" in caller_arn:
        partition, account = caller_arn.split(":")[1], caller_arn.split(":")[4]
        role = caller_arn.split(":assumed-role/")[1].split("/")[0]
        return f"arn:{partition}:iam::{account}:role/{role}"
    return caller_arn


def _sample(pattern: str) -> str:
    """One concrete value a policy pattern admits (what a lab's own request would carry)."""
    return pattern.replace("*", "x")


def simulated_requests(policy: Dict) -> List[Dict]:
    """For each statement, a request it allows: its actions, sample resources (none for "*")
    and context values its conditions admit (the lab's tag, the service the role is passed to...)."""
    requests = []
    for statement in policy["Statement"]:
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        resources = [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
        request: Dict = {"ActionNames": actions}
        concrete = [_sample(r) for r in resources if r != "*" and "${" not in r]  # no policy variables
        if concrete:
            request["ResourceArns"] = concrete
        context = []
        for operator, keys in statement.get("Condition", {}).items():
            for key, values in keys.items():
                value = values[0] if isinstance(values, list) else values
                context.append(
                    {
                        "ContextKeyName": key,
                        "ContextKeyType": "string",
                        "ContextKeyValues": ["ops" if operator == "Null" else _sample(value)],
                    }
                )
        if context:
            request["ContextEntries"] = context
        requests.append(request)
    return requests


def _permissions(aws, caller: str, account: str, playbook: Playbook, location=None) -> Finding:
    requests = simulated_requests(policy_for(playbook, location, Scope(aws.region, account)))
    actions = {a for r in requests for a in r["ActionNames"]}

    def simulate() -> Finding:
        iam = aws.client("iam")
        denied = set()
        for request in requests:
            results = aws.call(iam.simulate_principal_policy, PolicySourceArn=_principal(caller), **request)[
                "EvaluationResults"
            ]
            denied |= {r["EvalActionName"] for r in results if r["EvalDecision"] != "allowed"}
        if denied:
            return Finding(
                "problem",
                f"your identity is not allowed {len(denied)} action(s) the lab needs, e.g. "
                f"{', '.join(sorted(denied)[:5])}: ask for 'ops iam-policy {playbook.source}'.",
            )
        return Finding(
            "ok", f"the IAM policy simulator allows all {len(actions)} actions the lab needs, on the lab's resources."
        )

    return _guarded("IAM permissions", simulate)


@dataclass
class Diagnosis:
    """What `ops doctor` found, and what to fix first."""

    findings: List[Finding]

    @property
    def verdict(self) -> str:
        return verdict(self.findings)

    @property
    def ready(self) -> bool:
        return self.verdict == "Ready."

    def lines(self) -> List[str]:
        return [f"[{f.level}] {f.text}" for f in self.findings] + [self.verdict]

    def to_json(self) -> Dict[str, Any]:
        return {
            "findings": [{"level": f.level, "text": f.text} for f in self.findings],
            "ready": self.ready,
            "verdict": self.verdict,
        }


def doctor(target: RunTarget, playbook: Optional[Playbook]) -> Diagnosis:
    """`ops doctor`: this account and region, checked for what would stop a lab."""
    tools = [] if target.dry_run else session_tool_findings()  # what 'ops shell' needs on this machine
    with target.open() as aws:
        return Diagnosis(diagnose(aws, playbook, target.location, tools))
