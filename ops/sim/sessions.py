"""boto3 sessions for a simulated account that ignore the user's AWS settings.

`isolated_session(region, direct, keys)` is what every simulator-side client is made from:
the dry run's own sessions (world.py), the server's gates asking its EC2 (server.py) and
the clients moto_setup.py builds ahead of time. Its sessions share one loader of service
models, and per process one botocore ServiceModel, client class and set of exception
classes per service and one cache of aliased event names; they never read AWS_* variables,
~/.aws or configured endpoint URLs.
"""

import functools
import os
import threading
from typing import Dict, Optional, Tuple

import boto3
import botocore.client
import botocore.session
from botocore import handlers
from botocore.config import Config
from botocore.configprovider import BOTOCORE_DEFAUT_SESSION_VARIABLES
from botocore.errorfactory import ClientExceptionsFactory
from botocore.hooks import _MIDDLE, EVENT_ALIASES, EventAliaser, HierarchicalEmitter, NodeList, _PrefixTrie
from botocore.utils import parse_timestamp

from ..shared_loader import shared_loader
from .account_keys import AccountKeys
from .wire import AnswerReadingParsers

# For in-process worlds only: moto's mock answers inside this process alone, so no one else
# can use them. A persistent account's server demands its own keys (account_keys.py).
_DUMMY_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}


# Service models from botocore's and boto3's own data only (user models in ~/.aws/models
# are not searched), parsed once per process (ops/shared_loader.py).
_LOADER = shared_loader(user_models=False)

_load_service_model = botocore.client.ClientCreator._load_service_model
_create_client_class = botocore.client.ClientCreator._create_client_class
_SHARED: Dict[Tuple[str, ...], object] = {}
_SHARED_LOCK = threading.Lock()


def _shared(key: Tuple[str, ...], make):
    with _SHARED_LOCK:
        made = _SHARED.get(key)
        if made is None:
            made = _SHARED[key] = make()
    return made


def _shared_service_model(creator, service_name, api_version=None):
    """One botocore ServiceModel per service for every client of a sim session. botocore
    builds a new one for each client, and with it resolves again every operation's shapes
    on that client's first calls: a fifth of an in-process dry run's CPU, every dry run
    making its own clients. A ServiceModel is read-only once built (its caches only fill);
    clients of other loaders (ops's real sessions) get botocore's own."""
    if creator._loader is not _LOADER:
        return _load_service_model(creator, service_name, api_version)
    return _shared(
        ("model", service_name, api_version or ""),
        lambda: _load_service_model(creator, service_name, api_version),
    )


def _shared_client_class(creator, service_name, service_model):
    """One client class per service model shared as above: botocore makes a class, with a
    method and a docstring for each operation, for every client. What goes in it depends on
    the model and on the session's creating-client-class handlers, the same (boto3's) for
    every sim session."""
    if creator._loader is not _LOADER:
        return _create_client_class(creator, service_name, service_model)
    return _shared(
        ("class", service_name, str(id(service_model))),
        lambda: _create_client_class(creator, service_name, service_model),
    )


class _SharingTrie(_PrefixTrie):
    """botocore's trie of event handlers, copied in no time: a copy shares every node with
    its original, and whichever of them then registers or unregisters a handler first copies
    the nodes on that event's path (its own from then on). Every new client copies its
    session's ~200 handlers, and copying each node of the trie was 6% of an in-process dry
    run's CPU; a client then changes a few paths of its own. Nodes a trie made since its last
    copy carry its token, and only those it changes in place."""

    _root: dict  # botocore's, untyped

    def __init__(self):
        super().__init__()
        self._token = object()
        self._root["owner"] = self._token

    def __copy__(self):
        copied = _SharingTrie.__new__(_SharingTrie)
        copied._root, copied._token = self._root, object()
        self._token = object()  # its nodes are shared from now on: it copies them too
        return copied

    def append_item(self, key, value, section=_MIDDLE):
        self._own_path(key, make=True)
        super().append_item(key, value, section)

    def remove_item(self, key, value):
        self._own_path(key, make=False)
        super().remove_item(key, value)

    def _own_path(self, key: str, make: bool) -> None:
        """Make every node on key's path this trie's own (new ones too when `make`)."""
        if self._root.get("owner") is not self._token:
            self._root = self._own(self._root)
        node = self._root
        for part in key.split("."):
            child = node["children"].get(part)
            if child is None:
                if not make:
                    return
                child = {"chunk": part, "values": None, "children": {}, "owner": self._token}
            elif child.get("owner") is not self._token:
                child = self._own(child)
            node["children"][part] = child
            node = child

    def _own(self, node: dict) -> dict:
        values = node["values"]
        return {
            "chunk": node["chunk"],
            "values": None if values is None else NodeList(values.first[:], values.middle[:], values.last[:]),
            "children": dict(node["children"]),
            "owner": self._token,
        }


_TEMPLATE: Dict[str, Tuple[tuple, HierarchicalEmitter]] = {}


def _builtin_handlers() -> HierarchicalEmitter:
    """A copy of botocore's built-in handlers, registered once per process: a new botocore
    session registers its ~200 one by one (each name aliased, each handler's signature
    checked), two thirds of the cost of a session, and a dry run opens several. This is
    Session._register_builtin_handlers's loop, run on a template; the template is made again
    if the list grew (moto appends its stubber to it when imported)."""
    current = tuple(handlers.BUILTIN_HANDLERS)
    with _SHARED_LOCK:
        made = _TEMPLATE.get("emitter")
        if made is None or made[0] != current:
            emitter = HierarchicalEmitter()
            emitter._handlers = _SharingTrie()
            events = EventAliaser(emitter)
            for spec in current:
                if len(spec) == 2:
                    events.register(spec[0], spec[1])
                elif spec[2] is handlers.REGISTER_FIRST:
                    events.register_first(spec[0], spec[1])
                elif spec[2] is handlers.REGISTER_LAST:
                    events.register_last(spec[0], spec[1])
            made = _TEMPLATE["emitter"] = (current, emitter)
        return made[1].__copy__()


_ALIASED_NAMES: Dict[str, str] = {}
_unpatched_aliaser_init = EventAliaser.__init__


def _aliaser_with_shared_names(aliaser, event_emitter, event_aliases=None):
    """botocore's event names, aliased once per process: each session and each client has an
    EventAliaser of its own (a client copies its session's), whose cache of aliased names
    starts empty, so every new client split and matched its names again on each first emit
    (~5% of a dry run's CPU). Aliasing is a pure function of the name for botocore's own
    alias table, the only one botocore uses; any other table keeps a cache of its own."""
    _unpatched_aliaser_init(aliaser, event_emitter, event_aliases)
    if aliaser._event_aliases == EVENT_ALIASES:
        aliaser._alias_name_cache = _ALIASED_NAMES


@functools.lru_cache(maxsize=4096)
def _timestamp(text):
    """botocore's parse_timestamp, remembered: it parses every timestamp of an XML answer
    with dateutil (3% of an in-process dry run), and a wait's polls meet the same resources'
    times again and again. A datetime is immutable, so the same text may share one."""
    return parse_timestamp(text)


# Each sim client's modeled exception classes, made once per service per process (a
# botocore session makes them again for its first client of each service).
_EXCEPTIONS = ClientExceptionsFactory()

botocore.client.ClientCreator._load_service_model = _shared_service_model
botocore.client.ClientCreator._create_client_class = _shared_client_class
EventAliaser.__init__ = _aliaser_with_shared_names


def isolated_session(
    region: str, direct: bool = False, keys: Optional[AccountKeys] = None, attempts: Optional[int] = None
) -> boto3.Session:
    """A boto3 Session with `keys` (a persistent account's), else dummy credentials, that
    ignores the user's environment.

    botocore reads profiles, regions, endpoints, retry settings and more from AWS_*
    variables and ~/.aws; the session is built without any environment variable behind
    its settings, with no config or credentials file, and with configured endpoint URLs
    ignored (AWS_ENDPOINT_URL* are read from os.environ by a separate provider).
    direct: its clients ignore HTTP(S)_PROXY too (they talk to a local server). attempts:
    how many times its clients try a call (botocore's default otherwise). A client's own
    Config still merges over both.
    """
    no_env = {
        name: (config_name, None, default, convert)
        for name, (config_name, _env, default, convert) in BOTOCORE_DEFAUT_SESSION_VARIABLES.items()
    }
    core = botocore.session.Session(
        session_vars=no_env, event_hooks=_builtin_handlers(), include_builtin_handlers=False
    )
    core.register_component("data_loader", _LOADER)
    parsers = AnswerReadingParsers()  # they read the simulator's fakes' answers without the bytes
    parsers.set_parser_defaults(timestamp_parser=_timestamp)
    core.register_component("response_parser_factory", parsers)
    core._internal_components.register_component("exceptions_factory", _EXCEPTIONS)
    core.set_config_variable("config_file", os.devnull)
    core.set_config_variable("credentials_file", os.devnull)
    core.set_config_variable("ignore_configured_endpoint_urls", True)
    defaults: dict = {}
    if direct:
        defaults["proxies"] = {}
    if attempts is not None:
        defaults["retries"] = {"total_max_attempts": attempts}
    if defaults:
        core.set_default_client_config(Config(**defaults))
    credentials = (
        _DUMMY_CREDENTIALS
        if keys is None
        else {"aws_access_key_id": keys.access_key_id, "aws_secret_access_key": keys.secret_access_key}
    )
    return boto3.Session(botocore_session=core, region_name=region, **credentials)
