"""How the simulator sets moto up: what a simulated account holds, and what to import ahead.

moto builds a fresh account lazily and generously: ~1,300 AWS managed IAM policies parsed
for each of its six partitions (about a second), and ~7,000 default AMIs for each EC2
backend. The simulated account lives in the `aws` partition only (every ARN the fakes make
says `arn:aws:`), and never looks an AMI up (Cloud9's and the hosts' images are
placeholders), so neither is needed: a real account in `aws` still finds the managed
policies it attaches, and the other partitions keep their own (empty) IAM.
"""

import copy
import functools
import json
import os
import threading
from typing import Dict, List, Tuple

import moto.iam.models as iam_models
from moto.core import serialize
from moto.core.base_backend import AccountSpecificBackend
from moto.core.botocore_stubber import BotocoreStubber
from moto.core.config import DefaultConfig
from moto.core.utils import MISSING, get_value

SIMULATED_PARTITION = "aws"
SIMULATED_REGION = "us-east-1"  # where a client made ahead of time points; its models are any region's

# Every moto backend a dry run calls (S3 for records kept in a bucket): importing one costs
# up to a second the first time (moto.ec2 lists its regions from botocore's model), so a
# warm server (forkserver.py) imports them before it forks.
BACKENDS = ("ec2", "iam", "dynamodb", "sts", "ssm", "s3")


@functools.lru_cache(maxsize=None)
def _managed_policy_documents() -> Dict[str, dict]:
    """moto's managed policies, parsed once per process (moto parses them for every account)."""
    return json.loads(iam_models.aws_managed_policies_data)


@functools.lru_cache(maxsize=None)
def _managed_policy_templates(region_name: str) -> tuple:
    """The managed policies built once per process (moto builds them for every account,
    validating each document: a tenth of a second per dry run); each account gets copies."""
    return tuple(
        iam_models.AWSManagedPolicy.from_data(name, "aws", region_name, document)
        for name, document in _managed_policy_documents().items()
    )


def _managed_policies_of_the_simulated_partition(backend):
    """moto's IAMBackend._init_aws_policies, for the simulated partition only: copies of the
    templates, with what an account changes (its attachment count, versions, tags) its own."""
    if backend.partition != SIMULATED_PARTITION or not iam_models.load_iam_aws_managed_policies():
        return []
    return [_account_copy(template, backend.account_id) for template in _managed_policy_templates(backend.region_name)]


def _account_copy(template, account_id: str):
    policy = copy.copy(template)
    policy.account_id = account_id
    policy.versions = [copy.copy(version) for version in template.versions]
    policy.tags = dict(template.tags)
    return policy


_unpatched_get_value = serialize.ResponseSerializer.get_value
_PLAIN_PICKERS = (serialize.AttributePicker, serialize.XFormedAttributePicker)
_keys_of_a_dict_member: Dict[tuple, Tuple[str, ...]] = {}


def _get_value_of_a_dict(serializer, value, key, shape):
    """moto's response serializer looks each member up under every alias its six providers
    offer, building them again for every member of every item: most of a DynamoDB Query's
    time on the server. For a plain dict those aliases depend only on the member's name, its
    shape and the shape's parent at that moment, so they are built once and reused; the
    lookup itself is still moto's."""
    picker = serializer._value_picker
    if (
        type(value) is not dict
        or type(picker) not in _PLAIN_PICKERS
        or picker.alias_providers is not serialize.DEFAULT_ALIAS_PROVIDERS
        or picker.response_transformers
    ):
        return _unpatched_get_value(serializer, value, key, shape)
    cache_key = (type(picker), key, shape, getattr(shape, "parent", None))
    keys = _keys_of_a_dict_member.get(cache_key)
    if keys is None:
        context = serialize.AttributePickerContext(obj={}, key=key, shape=shape)
        keys = _keys_of_a_dict_member[cache_key] = tuple(picker.get_possible_keys(context))
    for possible_key in keys:
        found = get_value(value, possible_key, MISSING)
        if found is not MISSING:
            return found
    return None


_unpatched_generate_regions = AccountSpecificBackend._generate_regions


@functools.lru_cache(maxsize=None)
def _regions_of(service_name: str) -> Tuple[str, ...]:
    """moto lists a service's regions from botocore's endpoint data for every new account
    (its cache is per account): once per process here, the same list."""
    return tuple(_unpatched_generate_regions.__wrapped__(None, service_name))


def _generate_regions(_backend, service_name: str) -> List[str]:
    return list(_regions_of(service_name))


# One request at a time through moto, as AWS applies each request atomically. moto's
# backends check, then change (CreateInstanceProfile looks the name up, then stores it), so
# two threads could both create the same name, which AWS never allows: two labs at once
# then both added a role to "their" profile and the second was refused.
REQUEST_LOCK = threading.RLock()
_unpatched_stubber_call = BotocoreStubber.__call__


def _one_request_at_a_time(stubber, event_name, request, **kwargs):
    with REQUEST_LOCK:
        return _unpatched_stubber_call(stubber, event_name, request, **kwargs)


def configure(managed_policies: bool) -> "DefaultConfig":
    """Set moto up in this process for a simulated account; the config to give mock_aws."""
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    BotocoreStubber.__call__ = _one_request_at_a_time  # type: ignore[method-assign,assignment]
    iam_models.IAMBackend._init_aws_policies = _managed_policies_of_the_simulated_partition  # type: ignore[method-assign]
    serialize.ResponseSerializer.get_value = _get_value_of_a_dict  # type: ignore[method-assign]
    AccountSpecificBackend._generate_regions = _generate_regions  # type: ignore[method-assign,assignment]
    return {"iam": {"load_aws_managed_policies": managed_policies}}


def preload() -> None:
    """Import the server app and every backend a dry run calls, and parse every model a new
    account's first calls would parse: moto's own copies, each service's regions (which
    moto's account backends list), and the clients the server's gates open
    (ops/sim/sessions.py's shared loader)."""
    import importlib

    from moto.backends import get_backend
    from moto.core.utils import get_service_model
    from moto.moto_server import werkzeug_app  # noqa: F401  (the server's app)

    from .sessions import isolated_session

    _managed_policy_templates(SIMULATED_PARTITION)  # IAM's backend is named for its partition
    gates = isolated_session(SIMULATED_REGION, direct=True)
    for name in BACKENDS:
        get_backend(name)  # type: ignore[call-overload]
        importlib.import_module(f"moto.{name}.responses")
        get_service_model(name)
        _regions_of(name)
        gates.client(name)
