"""The nouns every layer shares: a recorded resource, a plan's change, the tags ops puts on
what it makes, a resource found in an account by those tags, and a resource kind: what ops
knows about one kind of resource, declared once on the step type that makes it
(`StepType.kinds`), so that inventory, status, sweep, teardown and pricing all read it from
the registry instead of keeping lists of their own.
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from .clock import wall_time

TAG_LAB, TAG_RUN, TAG_STEP, TAG_CREATED = "ops:lab", "ops:run", "ops:step", "ops:created"
TAG_EXPIRES = "ops:expires"  # when the lab should be gone (ISO 8601 UTC): what `ops sweep --expired` reads
TAG_TIME = "%Y-%m-%dT%H:%M:%SZ"  # the tags' times: ISO 8601, UTC, to the second


def tag_time(at: float) -> str:
    """A time (seconds since the epoch) as ops's tags write it."""
    return time.strftime(TAG_TIME, time.gmtime(at))


def parse_tag_time(text: Optional[str]) -> Optional[float]:
    """A tag's time back to seconds since the epoch (None: missing or not ops's format)."""
    if not text:
        return None
    try:
        return calendar.timegm(time.strptime(text, TAG_TIME))
    except ValueError:
        return None


@dataclass
class Resource:
    """One thing a step made or changed, as recorded in the run's state."""

    step: str
    type: str  # the step type that knows how to delete it
    kind: str  # a ResourceKind's name, e.g. "cache-cluster"; some add ":detail" ("role-policy:NAME")
    id: str
    region: str
    ours: bool = True  # False: it existed before this run; teardown leaves it alone
    status: str = "intent"  # intent -> created | adopted | refused (AWS said no) -> deleted
    attrs: Dict[str, Any] = field(default_factory=dict)

    @property
    def base_kind(self) -> str:
        """The ResourceKind this resource is one of."""
        return base_kind(self.kind)

    def label(self) -> str:
        return f"{self.kind} {self.id}"


def base_kind(kind: str) -> str:
    return kind.split(":", 1)[0]


@dataclass
class Change:
    """One line of a plan: what a step would do, and what it would cost while it exists."""

    action: str  # create | adopt | change | run
    what: str
    service: Optional[str] = None  # pricing.yaml service and size, for billable things
    size: Optional[str] = None


@dataclass
class Found:
    """One ops-tagged resource in an account, with what `ops sweep` needs to show and delete it."""

    kind: str  # a ResourceKind's name
    id: str
    status: str
    tags: Dict[str, str]
    step_type: Optional[str] = None  # whose delete() removes it (inventory fills it in); None: goes with another
    attrs: Dict[str, str] = field(default_factory=dict)  # "part_of": the resource it goes with

    @property
    def lab(self) -> str:
        return self.tags.get(TAG_LAB, "")

    @property
    def run(self) -> str:
        return self.tags.get(TAG_RUN, "")

    @property
    def step(self) -> str:
        return self.tags.get(TAG_STEP, "")

    @property
    def expires(self) -> Optional[float]:
        """When its lab should be gone, by its ops:expires tag (None: no expiry)."""
        return parse_tag_time(self.tags.get(TAG_EXPIRES))

    def age(self, now: Optional[float] = None) -> Optional[float]:
        then = parse_tag_time(self.tags.get(TAG_CREATED))
        return None if then is None else (now or wall_time()) - then

    def line(self) -> str:
        return f"{self.kind} {self.id} ({self.status})"


def tag_map(pairs: Optional[Iterable[Dict[str, str]]]) -> Dict[str, str]:
    """AWS's tag lists ({Key, Value} or, in Cloud9, {key, value}) as a dict."""
    return {(t.get("Key") or t.get("key") or ""): (t.get("Value") or t.get("value") or "") for t in pairs or []}


@dataclass(frozen=True)
class Switch:
    """How the account deletes one resource of a kind by itself at its lab's expiry (the dead
    man's switch, ops/steps/deadman.py): an EventBridge Scheduler universal target."""

    service: str  # the SDK's service id, e.g. "elasticache"
    action: str  # the API action in camelCase, e.g. "deleteCacheCluster"
    input: Callable[[str], Dict[str, Any]]  # the request as modelled, for a resource's id
    resource: str  # an ARN template (ops/permissions.py) of what it deletes: the execution role's policy

    @property
    def iam_action(self) -> str:
        return f"{self.service}:{self.action[0].upper()}{self.action[1:]}"


@dataclass(frozen=True)
class Retag:
    """How `ops extend` puts a new ops:expires tag on one resource of a kind, so that
    `ops sweep --expired`, reading tags alone, does not take a lab that was given more time."""

    action: str  # the IAM action it calls, e.g. "elasticache:AddTagsToResource"
    resource: str  # an ARN template (ops/permissions.py) of what it tags: the policy's resource
    put: Callable[[Any, str, List[Dict[str, str]]], None]  # (aws, the resource's id, [{Key, Value}])


def ec2_retag(resource: str) -> Retag:
    """EC2 tags any of its resources by id (CreateTags)."""
    return Retag(
        "ec2:CreateTags",
        resource,
        lambda aws, rid, tags: aws.call(aws.client("ec2").create_tags, Resources=[rid], Tags=tags),
    )


@dataclass(frozen=True)
class ResourceKind:
    """Everything ops needs to know about one kind of resource outside the step that makes it.

    creation_order places it in a run: a made-up record (ops sweep) lists kinds in that
    order and teardown deletes newest first, so what depends on another kind (a rule on a
    group, a role in a profile) has a higher number than what it depends on.
    """

    name: str
    creation_order: int
    # every one in the account, with its tags (None: it is not tagged, and goes with another
    # resource, e.g. a policy attachment goes with its role)
    find: Optional[Callable[[Any], Iterable[Found]]] = None
    # what AWS says of one now, by id ('gone' is said for it when AWS answers a not_found code)
    live_state: Optional[Callable[[Any, str], str]] = None
    not_found: Tuple[str, ...] = ()
    # (pricing.yaml service, the recorded attribute holding its size) when it costs money
    price: Optional[Tuple[str, str]] = None
    # shared by every lab in the account (the Cloud9 SSM role): the last lab out deletes it
    account_wide: bool = False
    # the calls live_state makes on a lab's own one (ops status): the policy of every step
    # type declaring the kind must grant them. find lists the whole account (ops sweep), which
    # a lab's policy does not grant: that takes the account's List/Describe rights.
    actions: Tuple[str, ...] = ()
    # a step may record several (ingress rules): a made-up record keys each by its id
    several_per_step: bool = False
    # it bills: the account deletes it at the lab's expiry (None: free, left to ops sweep)
    switch: Optional[Switch] = None
    # it carries ops's tags, and ops extend moves its ops:expires (None: untagged)
    retag: Optional[Retag] = None

    def state_of(self, aws: Any, resource_id: str) -> str:
        """live_state, or 'gone' when AWS says there is no such resource."""
        from botocore.exceptions import ClientError  # not_found: codes, for any service (EC2 models none)

        from .aws import error_code

        if self.live_state is None:
            return "recorded"
        try:
            return self.live_state(aws, resource_id)
        except ClientError as exc:
            if error_code(exc) in self.not_found:
                return "gone"
            raise


def kinds_of(step_types: Iterable[Any]) -> Dict[str, Tuple[ResourceKind, str]]:
    """{kind name: (its ResourceKind, the first registered step type declaring it)}: what
    deletes a found resource of that kind (every type declaring a kind deletes it alike)."""
    found: Dict[str, Tuple[ResourceKind, str]] = {}
    for step_type in step_types:
        for kind in step_type.kinds:
            if kind.name in found and found[kind.name][0] is not kind:
                raise RuntimeError(f"resource kind {kind.name} is declared twice, differently")
            found.setdefault(kind.name, (kind, step_type.name))
    return found


def in_creation_order(kinds: Dict[str, Tuple[ResourceKind, str]]) -> List[str]:
    return sorted(kinds, key=lambda name: kinds[name][0].creation_order)
