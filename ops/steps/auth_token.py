"""Where an ElastiCache AUTH token comes from, and where ops keeps it: never in the playbook.

A playbook names a *source*, never the token:

- `generate`: ops makes a random token that follows AWS's rules (ops/authtoken.py);
- `env:NAME`: the token is in the environment variable NAME of the ops process;
- `ssm:/param/name`: the token is in an existing SSM SecureString of the user's (read with
  WithDecryption; used, never changed or deleted).

For `generate` and `env:`, ops stores the token in a SecureString of its own,
`/ops/<lab>/<run id>/<step>/auth-token`, tagged like every ops resource, recorded before
and after the call and deleted on teardown after the replication group. The client host
reads the token from that parameter (or the user's) with its instance role; ops passes only
the parameter's name on. The token itself never goes into output, events, the record,
timelines or SSM command text.
"""

from __future__ import annotations

import os
import re
from typing import List, Optional, Tuple

from ..authtoken import generate_auth_token, valid_auth_token
from ..errors import BadInput, StepFailed
from ..model import Found, ResourceKind, Retag, tag_map
from ..permissions import arn

PARAMETER = "ssm-parameter"


def _find_parameters(aws) -> List[Found]:
    """The SecureStrings ops keeps AUTH tokens in (all under /ops/)."""
    client = aws.client("ssm")
    found = []
    ours = [{"Key": "Name", "Option": "BeginsWith", "Values": ["/ops/"]}]
    for parameter in aws.listing(client, "describe_parameters", "Parameters", ParameterFilters=ours):
        tags = aws.call(client.list_tags_for_resource, ResourceType="Parameter", ResourceId=parameter["Name"])
        found.append(Found(PARAMETER, parameter["Name"], "exists", tag_map(tags["TagList"])))
    return found


PARAMETER_KIND = ResourceKind(
    PARAMETER,
    creation_order=30,  # before the group whose token it holds; deleted after it
    find=_find_parameters,
    not_found=("InvalidResourceId",),
    retag=Retag(
        "ssm:AddTagsToResource",
        arn("ssm", "parameter/*"),
        lambda aws, name, tags: aws.call(
            aws.client("ssm").add_tags_to_resource, ResourceType="Parameter", ResourceId=name, Tags=tags
        ),
    ),
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SSM_NAME = re.compile(r"^/?[A-Za-z0-9_.\-/]{1,1011}$")
RULES = "16-128 characters: letters, digits and only these specials: ! & # $ ^ < > -"
SOURCE_HINT = (
    "Name where the token comes from, never the token itself: 'generate', 'env:NAME' "
    "(an environment variable) or 'ssm:/parameter/name' (an SSM SecureString)."
)


def parse_source(value: str) -> Tuple[str, str]:
    """('generate', '') | ('env', NAME) | ('ssm', NAME); ValueError when it is not a source."""
    if value == "generate":
        return "generate", ""
    kind, _, name = value.partition(":")
    if kind == "env" and _ENV_NAME.match(name):
        return "env", name
    if kind == "ssm" and _SSM_NAME.match(name) and not name.lower().lstrip("/").startswith(("aws", "ssm")):
        return "ssm", name
    raise ValueError(value)


def check_source(value: str) -> Optional[str]:
    """A Param check: the problem (never quoting the value: it may be the token itself)."""
    try:
        parse_source(value)
    except ValueError:
        return (
            "must name where the token comes from (generate, env:NAME or ssm:/parameter/name), not be the token itself"
        )
    return None


def parameter_name(lab: str, run_id: str, step: str) -> str:
    return f"/ops/{lab}/{run_id}/{step}/auth-token"


def read_user_parameter(call, ssm, name: str) -> Tuple[Optional[str], Optional[str]]:
    """(token, problem): an existing SecureString of the user's."""
    try:
        parameter = call(ssm.get_parameter, Name=name, WithDecryption=True)["Parameter"]
    except ssm.exceptions.ParameterNotFound:
        return None, f"the SSM parameter {name} does not exist"
    if parameter.get("Type") != "SecureString":
        return None, f"the SSM parameter {name} is a {parameter.get('Type')}, not a SecureString"
    return parameter["Value"], None


def check_source_readable(playbook, step, account) -> None:
    """Before a run creates anything: the step's token source can be read and holds a valid
    token; otherwise BadInput (exit 2) naming the playbook's line. account(): the account,
    opened only for an ssm: source (None: a simulated account with nothing in it yet)."""
    source = step.args.get("auth_token")
    if not isinstance(source, str):
        return
    try:
        kind, name = parse_source(source)
    except ValueError:
        return  # a reference, checked at run time
    where = dict(source=playbook.source, line=step.arg_lines.get("auth_token", step.line))
    problem: Optional[str] = None
    if kind == "env":
        if name not in os.environ:
            raise BadInput(
                f"step '{step.name}' takes its AUTH token from the environment variable {name}, which is not set.",
                f"Set it (export {name}=...) or use auth_token: generate.",
                **where,
            )
        if not valid_auth_token(os.environ[name]):
            raise BadInput(
                f"step '{step.name}': the AUTH token in {name} does not follow AWS's rules ({RULES}).",
                "Use another token, or auth_token: generate.",
                **where,
            )
    elif kind == "ssm":
        aws = account()
        if aws is None:
            token, problem = None, f"the SSM parameter {name} does not exist (the simulated account has none yet)"
        else:
            token, problem = read_user_parameter(aws.call, aws.client("ssm"), name)
        if problem is None and not valid_auth_token(token):
            problem = f"the token in the SSM parameter {name} does not follow AWS's rules ({RULES})"
    if problem:
        raise BadInput(
            f"step '{step.name}': {problem}.",
            "Create it as a SecureString (aws ssm put-parameter --type SecureString ...), or use auth_token: generate.",
            **where,
        )


def token_for(ctx, source: str) -> Tuple[str, str]:
    """(token, name of the SecureString holding it): the user's, or one ops makes and records."""
    kind, name = parse_source(source)
    ssm = ctx.client("ssm")
    if kind == "ssm":
        token, problem = read_user_parameter(ctx.call, ssm, name)
        if token is None:  # then problem says why
            raise StepFailed(ctx.step, f"{problem}.", "Create it as a SecureString, or use auth_token: generate.")
        ctx.adopted(PARAMETER, name)
        return token, name
    own = parameter_name(ctx.lab, ctx.run_id, ctx.step)
    recorded = ctx.find_recorded(PARAMETER)
    try:  # made before a crash: the group was (or will be) created with that token
        token = ctx.call(ssm.get_parameter, Name=own, WithDecryption=True)["Parameter"]["Value"]
        ctx.created(recorded or ctx.intend(PARAMETER, own), verb="resumed")
        return token, own
    except ssm.exceptions.ParameterNotFound:
        pass  # not made yet
    if kind == "env":
        token = os.environ.get(name)
        if token is None or not valid_auth_token(token):
            raise StepFailed(
                ctx.step,
                f"the environment variable {name} is not set, or not a valid AUTH token ({RULES}).",
                f"Set it (export {name}=...) and re-run; the run resumes.",
            )
    else:
        token = generate_auth_token()
    resource = recorded or ctx.intend(PARAMETER, own)
    try:
        ctx.call(
            ssm.put_parameter,
            Name=own,
            Value=token,
            Type="SecureString",
            Tags=ctx.tags(),
            Description=f"AUTH token of the ElastiCache replication group of ops lab {ctx.lab}, run {ctx.run_id}",
        )
    except ssm.exceptions.ParameterAlreadyExists:
        # a re-sent put whose first answer was lost finds the parameter holding our token
        if not _holds(ctx, own, token):
            raise
    ctx.created(resource)
    return token, own


def _holds(ctx, name: str, token: str) -> bool:
    ssm = ctx.client("ssm")
    found = ctx.call(ssm.get_parameter, Name=name, WithDecryption=True)["Parameter"]["Value"]
    return found == token


def delete_parameter(ctx, name: str) -> None:
    ssm = ctx.client("ssm")
    try:
        ctx.call(ssm.delete_parameter, Name=name)
    except ssm.exceptions.ParameterNotFound:
        pass  # gone already
