"""`ops plan`: what a run would do and cost, and what usually breaks a real lab, read-only.

Every step previews its changes with read-only calls; references to outputs that exist
only at run time are shown as such. Findings say what to do about each problem.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ..aws import error_code, error_message
from ..durations import format_duration
from ..engine.context import StepContext
from ..engine.playbook import Playbook
from ..engine.state import RunState
from ..model import Change
from ..refs import REF, resolve
from .pricing import Prices

PREVIOUS_GENERATION = (
    "cache.t1.",
    "cache.t2.",
    "cache.m1.",
    "cache.m2.",
    "cache.m3.",
    "cache.m4.",
    "cache.c1.",
    "cache.r3.",
    "cache.r4.",
)


@dataclass
class Finding:
    level: str  # ok | note | warning | problem
    text: str


@dataclass
class Plan:
    lab: str
    region: str
    account: str
    steps: List[Dict[str, Any]] = field(default_factory=list)  # {step, type, changes: [Change]}
    findings: List[Finding] = field(default_factory=list)
    hourly: float = 0.0
    unpriced: List[str] = field(default_factory=list)
    prices_taken: str = ""

    @property
    def ready(self) -> bool:
        return not any(f.level == "problem" for f in self.findings)

    def to_json(self) -> Dict[str, Any]:
        return {
            "lab": self.lab,
            "region": self.region,
            "account": self.account,
            "ready": self.ready,
            "hourly_usd": round(self.hourly, 4),
            "prices_taken": self.prices_taken,
            "unpriced": self.unpriced,
            "steps": [
                {
                    "step": s["step"],
                    "type": s["type"],
                    "changes": [{"action": c.action, "what": c.what} for c in s["changes"]],
                }
                for s in self.steps
            ],
            "findings": [{"level": f.level, "text": f.text} for f in self.findings],
        }

    def lines(self) -> List[str]:
        out = [f"Plan for lab '{self.lab}' in {self.region} (account {self.account}):", ""]
        for step in self.steps:
            out.append(f"  {step['step']} ({step['type']})")
            out.extend(f"    {_SIGN[c.action]} {c.action:<7} {c.what}" for c in step["changes"])
        cost = f"about ${self.hourly:.3f}/hour while the lab is up (prices taken {self.prices_taken})"
        if self.unpriced:
            cost += f"; no price for {', '.join(self.unpriced)}"
        out += ["", f"Cost: {cost}.", "", "Checks:"]
        out.extend(f"  [{f.level}] {f.text}" for f in self.findings)
        out.append("")
        out.append("Ready to run." if self.ready else "Not ready: fix the problems above first.")
        return out


_SIGN = {"create": "+", "adopt": "=", "change": "~", "run": ">"}


def _placeholders(value, run_id: str, region: str):
    """Resolve what is known before a run; show step outputs as where they come from."""

    def lookup(path):
        if path == ("run", "id"):
            return run_id
        if path == ("run", "region"):
            return region
        return "<" + ".".join(path[1:2] + path[3:]) + ">"

    return resolve(value, lookup)


def make_plan(
    playbook: Playbook, aws, reporter, settings: Dict[str, Any], prices: Prices, state: Optional[RunState] = None
) -> Plan:
    from botocore.exceptions import ClientError

    account = aws.call(aws.client("sts").get_caller_identity)["Account"]  # refused: the CLI says why
    plan = Plan(playbook.name, aws.region, account, prices_taken=prices.taken)
    plan.findings.append(Finding("ok", f"credentials work (account {account}), region {aws.region}."))
    run_id = state.run_id if state else "<run id>"
    for step in playbook.steps:
        args = step.step_type.with_defaults(_placeholders(step.args, run_id, aws.region))
        ctx = StepContext(
            aws=aws,
            clock=aws.clock,
            state=state,
            reporter=reporter,
            settings=settings,
            lab=playbook.name,
            step=step.name,
            step_type=step.type,
            timeout=step.timeout,
        )
        try:
            changes = step.step_type(ctx, step.name, args).preview()
        except ClientError as exc:  # a plan reports AWS's refusals, it does not stop
            code = error_code(exc)
            if not code:
                raise
            changes = [Change("run", f"(could not look: {code}: {error_message(exc)})")]
        plan.steps.append({"step": step.name, "type": step.type, "changes": changes})
        for change in changes:
            if change.action == "create" and change.service:
                price = prices.hourly(aws.region, change.service, change.size)
                if price is None:
                    plan.unpriced.append(f"{change.size} in {aws.region}")
                else:
                    plan.hourly += price
    _switch(plan, playbook, settings.get("ttl"))
    plan.findings.extend(_checks(playbook, aws))
    plan.findings.extend(_token_sources(playbook, aws))
    return plan


def _switch(plan: Plan, playbook: Playbook, ttl: Optional[float]) -> None:
    """The dead man's switch a run would arm (free): what each schedule deletes, and when;
    without an expiry, a warning."""
    creating = {step["step"] for step in plan.steps if any(c.action == "create" for c in step["changes"])}
    guarded = [
        (step.name, kind)
        for step in playbook.steps
        if step.name in creating
        for kind in step.step_type.kinds
        if kind.switch
    ]
    if ttl is None:
        plan.findings.append(
            Finding(
                "warning",
                "no expiry (--ttl none): if ops is gone before its teardown (a crash, a closed laptop), "
                "nothing deletes this lab; it bills until someone runs 'ops teardown'.",
            )
        )
        return
    if not guarded:
        return
    after = format_duration(ttl)
    changes = [
        Change(
            "create",
            f"schedule group ops-{playbook.name}-<run id> and execution role ops-switch-{playbook.name}-<run id> "
            "that may delete only this run's tagged resources (free)",
        )
    ]
    changes += [
        Change(
            "create",
            f"schedule {after} after the run starts (free): deletes {kind.name} of step '{step}' "
            f"({kind.switch.iam_action})",
        )
        for step, kind in guarded
        if kind.switch is not None
    ]
    plan.steps.append({"step": "expiry", "type": "deadman.switch", "changes": changes})
    plan.findings.append(
        Finding(
            "ok",
            f"the lab expires {after} after it starts: then the account itself deletes what bills, even with "
            "ops gone; 'ops sweep --expired' removes the rest (ops extend moves it).",
        )
    )


def _token_sources(playbook: Playbook, aws) -> List[Finding]:
    """AUTH token sources (env:NAME, ssm:/name) that a run could not read."""
    from ..errors import BadInput
    from ..steps.auth_token import check_source_readable

    try:
        for step in playbook.steps:
            if step.step_type.param("auth_token") is not None:
                check_source_readable(playbook, step, lambda: aws)
    except BadInput as exc:
        return [Finding("problem", exc.message + (f" {exc.hint}" if exc.hint else ""))]
    return []


def _checks(playbook: Playbook, aws) -> List[Finding]:
    findings = []
    ec2 = aws.client("ec2")
    vpcs = aws.call(ec2.describe_vpcs, Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        findings.append(
            Finding(
                "problem",
                f"{aws.region} has no default VPC: create one with "
                "'aws ec2 create-default-vpc', or give the steps explicit subnets/groups.",
            )
        )
    else:
        groups = aws.call(
            ec2.describe_security_groups,
            Filters=[{"Name": "vpc-id", "Values": [vpcs[0]["VpcId"]]}, {"Name": "group-name", "Values": ["default"]}],
        )
        if groups["SecurityGroups"]:
            findings.append(Finding("ok", f"default VPC {vpcs[0]['VpcId']} and its default security group exist."))
        else:
            findings.append(Finding("problem", "the default VPC has no 'default' security group."))
    types = {step.type for step in playbook.steps}
    if "cloud9.environment" in types:
        findings.append(_cloud9_access(aws))
    for step in playbook.steps:
        node = step.args.get("node_type")
        if (
            step.type.startswith("elasticache.")
            and isinstance(node, str)
            and not REF.search(node)
            and node.startswith(PREVIOUS_GENERATION)
        ):
            findings.append(
                Finding(
                    "warning",
                    f"step '{step.name}': {node} is a previous-generation node type that "
                    "new clusters may not get; use --var node_type=cache.t3.micro.",
                )
            )
    return findings


def _cloud9_access(aws) -> Finding:
    from botocore.exceptions import ClientError

    try:
        aws.call(aws.client("cloud9").list_environments)
    except ClientError as exc:  # no access: said in the message, or by a code Cloud9 does not model
        message = error_message(exc)
        if "does not have access" in message or error_code(exc) in ("AccessDeniedException", "AccessDenied"):
            return Finding(
                "problem",
                f"this account cannot use Cloud9 ({message}); Cloud9 is closed to new "
                "customers since 2024-07-25: use an account that had it, or an EC2 client host.",
            )
        raise
    return Finding("ok", "the account can use Cloud9.")
