"""Who a lab's Cloud9 environments are shared with: `ops run --member [COPY=]ARN`.

A member is an IAM principal's ARN in the form Cloud9 takes (botocore's cloud9 model, the
`userArn` pattern: an IAM user, an assumed role's session, a federated user or the account's
root). It is checked here, before anything is made: botocore checks no pattern, and Cloud9
would refuse it only once the environment exists. A role is a member as one of its sessions
(`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`): Cloud9 refuses the role's own ARN.

With copies (`--names alice,bob`), `alice=ARN` shares copy alice only; a plain ARN is shared
with every copy.
"""

import functools
import re
from typing import Dict, List, Optional, Sequence, Tuple

from .errors import BadInput
from .names import COPY_RE, shown

PERMISSIONS = "read-write"  # what a member may do: the lesson is done in the environment


@functools.lru_cache(maxsize=None)
def user_arn_pattern() -> "re.Pattern[str]":
    """Cloud9's userArn pattern, as its model writes it (ASCII classes, as AWS's regexes have)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("cloud9")
    return re.compile(model.shape_for("UserArn").metadata["pattern"], re.ASCII)


def arn_problem(arn: str) -> Optional[str]:
    """What makes `arn` no member Cloud9 takes, or None."""
    if user_arn_pattern().fullmatch(arn):
        return None
    if re.fullmatch(r"arn:[\w-]+:iam::\d+:role/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)", arn, re.ASCII):
        return (
            "is a role's ARN, and Cloud9 shares an environment with a role only as a session of it: "
            "write arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION (the session name the student "
            "gives when assuming the role)"
        )
    return (
        "is not an ARN Cloud9 takes for a member: an IAM user (arn:aws:iam::ACCOUNT:user/NAME), a "
        "role's session (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION) or a federated user"
    )


def parse_member(flag: str) -> Tuple[Optional[str], str]:
    """(the copy it is for, or None for every copy; the ARN) of one --member value."""
    copy, sep, arn = flag.partition("=")
    if sep and COPY_RE.fullmatch(copy):  # an ARN never starts with a copy's name and '='
        return copy, arn
    return None, flag


def members_by_lab(flags: Sequence[str], lab: str, copies: Optional[List[str]]) -> Dict[str, List[str]]:
    """{lab name: the ARNs its Cloud9 environments are shared with} for `--member` flags; copies:
    the copies' own names (--names, or --count's 1..N), None for a lab alone."""
    labs = {copy: f"{lab}-{copy}" for copy in copies} if copies else {}
    shared: Dict[str, List[str]] = {name: [] for name in labs.values()} if copies else {lab: []}
    for flag in flags:
        copy, arn = parse_member(flag)
        problem = arn_problem(arn)
        if problem:
            raise BadInput(
                f"--member {shown(flag, 120)}" + (f": {shown(arn, 120)}" if copy else "") + f" {problem}.",
                "Copy the ARN from the IAM console, or from 'aws sts get-caller-identity' run as the student.",
            )
        if copy is None:
            for arns in shared.values():
                arns.append(arn)
            continue
        if copy not in labs:
            raise BadInput(
                f"--member {shown(flag, 120)} names the copy '{copy}', and this run makes "
                + (f"copies {', '.join(sorted(labs))} only." if labs else "no copies."),
                "Give a copy --names (or --count) makes, or a plain ARN to share every copy.",
            )
        shared[labs[copy]].append(arn)
    return {name: list(dict.fromkeys(arns)) for name, arns in shared.items()}


def principal(arn: str) -> str:
    """What an ARN names within its account: user/NAME, assumed-role/ROLE/SESSION, root..."""
    return arn.split(":", 5)[5]
