"""How the simulator sets moto up: what a simulated account holds, and what to import ahead.

moto builds a fresh account lazily and generously: ~1,300 AWS managed IAM policies parsed
for each of its six partitions (about a second), and ~7,000 default AMIs for each EC2
backend. The simulated account lives in the `aws` partition only (every ARN the fakes make
says `arn:aws:`), and never looks an AMI up (Cloud9's and the hosts' images are
placeholders), so neither is needed: a real account in `aws` still finds the managed
policies it attaches, and the other partitions keep their own (empty) IAM.
"""

import functools
import json
import os
import threading
import types
from typing import Any, Dict, FrozenSet, List, Set, Tuple

import moto.backends
import moto.iam.models as iam_models
import xmltodict  # moto's, for its XML answers
from moto.core import errors, responses, serialize
from moto.core.base_backend import AccountSpecificBackend
from moto.core.botocore_stubber import BotocoreStubber
from moto.core.config import DefaultConfig
from moto.core.utils import MISSING, get_value

from ..shared_loader import share_with_every_session
from . import xml_writer

share_with_every_session()  # before moto's EC2 is imported: its module makes three sessions

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
def _shared_managed_policies(region_name: str) -> tuple:
    """The AWS managed policies, built once per process and shared by every account in it
    until the account attaches one (moto builds all ~1,500 for every account, validating each
    document: a tenth of a second per dry run; copying them for each was still 3-7% of a warm
    in-process dry run's CPU)."""
    return tuple(
        _shared(iam_models.AWSManagedPolicy.from_data(name, "aws", region_name, document))
        for name, document in _managed_policy_documents().items()
    )


def _managed_policies_of_the_simulated_partition(backend):
    """moto's IAMBackend._init_aws_policies, for the simulated partition only."""
    if backend.partition != SIMULATED_PARTITION or not iam_models.load_iam_aws_managed_policies():
        return []
    return list(_shared_managed_policies(backend.region_name))


class _AccountsManagedPolicy(iam_models.AWSManagedPolicy):
    """An account's own copy of an AWS managed policy, its ARN worked out once: moto builds it
    at every look-up, and attaching or detaching a policy looks through all ~1,500 of them
    (2% of an in-process dry run). An AWS managed policy's path and name never change."""

    arn: str = None  # type: ignore[assignment]  # each copy's own, in place of moto's property


class _SharedManagedPolicy(_AccountsManagedPolicy):
    """An AWS managed policy as every account of the process holds it until it attaches it.
    Nothing changes it in place (an account's attachments, or anything moto would change, would
    show in every account): attaching it gives the account a copy of its own first, where its
    attachments are counted; anything else that would change it is refused."""

    def attach_to(self, obj) -> None:
        backend = iam_models.iam_backends[obj.account_id][self.partition]
        own = _account_copy(self, obj.account_id)
        backend.managed_policies[self.arn] = own
        held = backend.aws_managed_policies  # where moto tells AWS's policies from the account's
        held[held.index(self)] = own
        own.attach_to(obj)

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError(f"{self.name} is shared by every simulated account; it is not changed in place")


class _SharedPolicyVersion(iam_models.PolicyVersion):
    def __setattr__(self, name: str, value) -> None:
        raise AttributeError("a shared AWS managed policy's version is not changed in place")


def _shared(policy) -> _SharedManagedPolicy:
    shared = _shallow_copy(policy, _SharedManagedPolicy)
    shared.__dict__.update(
        arn=policy.arn,
        versions=tuple(_shallow_copy(version, _SharedPolicyVersion) for version in policy.versions),
        tags=types.MappingProxyType(dict(policy.tags)),
    )
    return shared


def _account_copy(shared: _SharedManagedPolicy, account_id: str) -> _AccountsManagedPolicy:
    policy = _shallow_copy(shared, _AccountsManagedPolicy)
    policy.account_id = account_id
    policy.versions = [_shallow_copy(version, iam_models.PolicyVersion) for version in shared.versions]
    policy.tags = dict(shared.tags)
    return policy


def _shallow_copy(thing, kind=None):
    """copy.copy for a plain object (its attributes in __dict__), at a third of the cost: the
    shared policies and their versions (once per process) and an account's own copies. Unlike
    copy.copy it skips moto's BaseModel.__new__,
    which lists every instance for moto's dashboard (unused here) until a reset. kind: the
    copy's class, when not the original's."""
    made = object.__new__(kind or type(thing))
    made.__dict__.update(thing.__dict__)
    return made


_unpatched_get_value = serialize.ResponseSerializer.get_value
_PLAIN_PICKERS = (serialize.AttributePicker, serialize.XFormedAttributePicker)
_keys_of_a_member: Dict[tuple, Tuple[str, ...]] = {}


def _get_value_by_known_keys(serializer, value, key, shape):
    """moto's response serializer looks each member up under every alias its six providers
    offer, building them again for every member of every item: most of a DynamoDB Query's
    time on the server, and a third of moto's serializing in a dry run. Those aliases depend
    only on the member's name, its shape and the shape's parent at that moment, and the
    value's class (its name, its Meta's aliases), so they are built once per such key and
    reused; the lookup and the answer's transformers are still moto's, as AttributePicker
    applies them. A value with a Meta of its own (rather than its class's) is looked up
    moto's way. The plain picker (the simulator's own answers) takes no aliases at all."""
    picker = serializer._value_picker
    if type(picker) is serialize.DefaultAttributePicker:
        return _looked_up(value, (key,), None)
    if (
        type(picker) not in _PLAIN_PICKERS
        or picker.alias_providers is not serialize.DEFAULT_ALIAS_PROVIDERS
        or "Meta" in getattr(value, "__dict__", ())
    ):
        return _unpatched_get_value(serializer, value, key, shape)
    cache_key = (type(picker), type(value), key, shape, getattr(shape, "parent", None))
    keys = _keys_of_a_member.get(cache_key)
    if keys is None:
        context = serialize.AttributePickerContext(obj=value, key=key, shape=shape)
        keys = _keys_of_a_member[cache_key] = tuple(picker.get_possible_keys(context))
    found = _looked_up(value, keys, None)
    if picker.response_transformers:
        key_path = f"{'.'.join(serializer.path)}.{key}"
        for transform_path, transform in picker.response_transformers.items():
            if key_path.endswith(transform_path):
                return transform(found)
    return found


def _looked_up(value, keys, default):
    """The value under the first of `keys` that `value` has (moto's get_value for each), else
    default: for a plain dict, its own get, as moto's comes to for keys without a dot."""
    if type(value) is dict:
        for key in keys:
            found = value.get(key, MISSING) if "." not in key else get_value(value, key, MISSING)
            if found is not MISSING:
                return found
        return default
    for key in keys:
        found = get_value(value, key, MISSING)
        if found is not MISSING:
            return found
    return default


_unpatched_validate_name: Any = getattr(xmltodict, "_validate_name", None)  # xmltodict 0.14 and later
_valid_names: Set[Tuple[str, str]] = set()


def _validate_name_once(value, kind):
    """xmltodict checks every element name of every XML answer moto writes, character by
    character (a tenth of moto's serializing); the names are the models' few, so each valid
    one is checked once."""
    if type(value) is str and (value, kind) in _valid_names:
        return
    _unpatched_validate_name(value, kind)
    if type(value) is str:
        _valid_names.add((value, kind))


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


_unpatched_list_of_moto_modules = moto.backends.list_of_moto_modules


@functools.lru_cache(maxsize=None)
def _list_of_moto_modules() -> Tuple[str, ...]:
    """moto's server lists its package's folders (a listdir and ~150 isdir calls) for every
    request, to see whether the Host header names a service: once per process here."""
    return tuple(_unpatched_list_of_moto_modules())


_unpatched_method_names_from_class = responses.method_names_from_class


@functools.lru_cache(maxsize=None)
def _method_names_from_class(response_class: type) -> FrozenSet[str]:
    """moto looks an action up among its response class's methods, listing them
    (inspect.getmembers over a few hundred) for every request: once per class here."""
    return frozenset(_unpatched_method_names_from_class(response_class))


_ERROR_LOOKUPS: Dict[str, Any] = {}
_unpatched_error_lookup_factory_init = errors.ErrorLookupFactory.__init__


def _error_lookups_shared_by_every_factory(factory) -> None:
    """moto caches each service's table of error shapes in an ErrorLookupFactory, then makes
    a new factory for every error it serializes, so builds the table again each time: a
    quarter of a dry run's server CPU (every "not found" a poll or a check meets is such an
    error). Every factory shares one cache here."""
    factory._error_lut_cache = _ERROR_LOOKUPS


def configure(managed_policies: bool) -> "DefaultConfig":
    """Set moto up in this process for a simulated account; the config to give mock_aws."""
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    BotocoreStubber.__call__ = _one_request_at_a_time  # type: ignore[method-assign,assignment]
    iam_models.IAMBackend._init_aws_policies = _managed_policies_of_the_simulated_partition  # type: ignore[method-assign]
    serialize.ResponseSerializer.get_value = _get_value_by_known_keys  # type: ignore[method-assign]
    if _unpatched_validate_name is not None:
        xmltodict._validate_name = _validate_name_once
    xmltodict.unparse = xml_writer.unparse  # moto's serializers call it through the module
    AccountSpecificBackend._generate_regions = _generate_regions  # type: ignore[method-assign,assignment]
    moto.backends.list_of_moto_modules = _list_of_moto_modules
    errors.ErrorLookupFactory.__init__ = _error_lookups_shared_by_every_factory  # type: ignore[method-assign,assignment]
    responses.method_names_from_class = _method_names_from_class  # type: ignore[assignment]
    return {"iam": {"load_aws_managed_policies": managed_policies}}


# The Flask app through which moto's server answers a service, made once by preload() in a
# forkserver rather than in each new server: moto makes one per service in every server,
# building on the way that service's backends for its default account (the simulated one),
# which was a sixth of a new account's server CPU in a dry run.
_BACKEND_APPS: Dict[str, Any] = {}
_THROWAWAY_ACCOUNT = "000000000000"


def backend_app(service: str) -> Any:
    """The app for `service`: made ahead by preload(), else made now as moto makes it."""
    from moto.moto_server.werkzeug_app import create_backend_app

    app = _BACKEND_APPS.get(service)
    return app if app is not None else create_backend_app(service)  # type: ignore[arg-type]


def _make_backend_apps() -> None:
    """The apps of BACKENDS, each built on a throwaway account whose backends are dropped
    afterwards: a forked server must start from an empty account, its ids drawn after its
    own reseed (forkserver.py)."""
    from moto.backends import get_backend
    from moto.moto_server import werkzeug_app

    default_account = werkzeug_app.DEFAULT_ACCOUNT_ID
    werkzeug_app.DEFAULT_ACCOUNT_ID = _THROWAWAY_ACCOUNT
    try:
        for name in BACKENDS:
            _BACKEND_APPS[name] = werkzeug_app.create_backend_app(name)  # type: ignore[arg-type]
    finally:
        werkzeug_app.DEFAULT_ACCOUNT_ID = default_account
        for name in BACKENDS:
            get_backend(name).pop(_THROWAWAY_ACCOUNT, None)  # type: ignore[call-overload]


def preload() -> None:
    """Import the server app and every backend a dry run calls, parse every model a new
    account's first calls would parse (moto's own copies, each service's regions, which
    moto's account backends list, and the clients the server's gates open: ops/sim/sessions.py's
    shared loader), and make the server's apps."""
    import importlib

    from moto.backends import get_backend
    from moto.core.utils import get_service_model
    from moto.moto_server import werkzeug_app  # noqa: F401  (the server's app)

    from .sessions import isolated_session

    _shared_managed_policies(SIMULATED_PARTITION)  # IAM's backend is named for its partition
    gates = isolated_session(SIMULATED_REGION, direct=True)
    for name in BACKENDS:
        get_backend(name)  # type: ignore[call-overload]
        importlib.import_module(f"moto.{name}.responses")
        get_service_model(name)
        _regions_of(name)
        gates.client(name)
    configure(managed_policies=False)  # as a server would be: no AMIs for the throwaway account
    _make_backend_apps()
    for name in BACKENDS:  # each service's table of error shapes (moto makes it at its first error)
        errors.ErrorLookupFactory().for_service(get_service_model(name))
