"""The simulated network between a dry run's clients and its account.

Every request a client of `SimWorld.session()` sends is handed, in botocore's `before-send`
event, to `Transport`, which answers it in place of the network. That event fires inside
botocore's retry loop, once per attempt, so whatever the client's retry mode does with a
throttle, a 500 or a dropped connection from AWS, it does with the simulator's. Per attempt:

1. The fault plan's draw (faults.py): a dropped connection (nothing is applied), a throttle
   or a server error in the service's own protocol (nothing is applied), or a lost answer
   (applied below, then the connection drops: the retry meets what the first attempt made).
2. The world settles what its clock says has happened since the last call.
3. A fake's answer (Cloud9, ElastiCache, SSM Run Command) or an overlay's refusal; else
4. moto's: the in-process mock's, or the persistent account's server's over loopback.
5. An overlay's amendment of moto's successful answer (a new table is CREATING).

Nothing a sim session sends can leave the machine: a request for anything but an
*.amazonaws.com host, or to a stopped world, is refused.
"""

import collections
import re
import socket
from typing import Any, Dict
from urllib.parse import urlsplit, urlunsplit

from botocore import UNSIGNED
from botocore.auth import AUTH_TYPE_MAPS, SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSPreparedRequest
from botocore.exceptions import ConnectionClosedError, NoCredentialsError
from botocore.utils import get_current_datetime
from moto.core.models import botocore_stubber

from . import wire
from .account_keys import SIGNED_URL_HEADER
from .base import PARAMS_KEY, SimError
from .local_redis import LOOPBACK

MODEL_KEY = "ops_sim_operation"  # in a call's botocore context: the operation's model (PARAMS_KEY: its parameters)

# bucket.s3.amazonaws.com, bucket.s3.us-west-2.amazonaws.com: S3's virtual-hosted addressing
_S3_VIRTUAL_HOST = re.compile(r"^(.+)\.s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com$")


_calls_sent: Dict[Any, int] = collections.Counter()  # by account home (None: in-process ones)


class SimulatorStopped(RuntimeError):
    pass


class UncheckedSigV4(SigV4Auth):
    """SigV4 headers with every part moto reads (the access key, the date, the region and
    service of the scope, the session token) and a signature nobody checks: moto's in-process
    mock never verifies one, and working it out (a canonical request, a hash of the body, four
    HMACs) was most of the cost of signing. Only for an in-process world's calls to moto; a
    persistent account's server checks its signatures, so those are signed in full."""

    def add_auth(self, request):
        if self.credentials is None:
            raise NoCredentialsError()
        request.context["timestamp"] = get_current_datetime().strftime(SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)
        self._inject_signature_to_request(request, "0" * 64)


UNCHECKED = "ops-sim-unchecked-v4"
AUTH_TYPE_MAPS[UNCHECKED] = UncheckedSigV4


def calls_sent(home) -> int:
    """How many calls the worlds of this process have sent to the persistent account at
    `home`: the same count at two moments, and this process did nothing to it in between."""
    return _calls_sent[home]


def _copy_of(value):
    """copy.deepcopy for a call's parameters (dicts, lists and tuples of immutable values),
    at a fraction of its cost: the demo's seed writes are thousands of nested values."""
    kind = type(value)
    if kind is dict:
        return {key: _copy_of(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return kind(_copy_of(item) for item in value)
    if kind is bytearray:
        return bytearray(value)
    return value


def unchecked_signer(world, service: str):
    """choose-signer's answer for a call to moto: UNCHECKED in an in-process world (S3 signs
    its own way, so it keeps botocore's), else botocore's choice."""
    return UNCHECKED if world.server is None and service != "s3" else None


def server_url(url: str, port: int) -> str:
    """An AWS request URL as the persistent account's server on loopback takes it."""
    parts = urlsplit(url)
    path = parts.path
    bucket = _S3_VIRTUAL_HOST.match(parts.hostname or "")
    if bucket:  # the server knows the bucket only from the path
        path = f"/{bucket.group(1)}{path}"
    return urlunsplit(("http", f"{LOOPBACK}:{port}", path, parts.query, ""))


def check_destination(world, url: str) -> None:
    if not world.started:
        raise SimulatorStopped(f"the SimWorld is stopped; refusing to send {url}")
    host = urlsplit(url).hostname or ""
    if not host.endswith(".amazonaws.com"):
        raise SimulatorStopped(f"a dry run never sends requests to {host}")


class Transport:
    def __init__(self, world):
        """world: the SimWorld whose account this network leads to."""
        self.world = world
        self._http: Any = None  # a persistent account's connection pool, made on first use
        # (service, operation) that only a fake ever answers: nothing checks their signature
        self._fake_only = {key for key, backend in world.answering.items() if backend.answers_alone}
        self._seen_by_fakes = set(world.answering) | set(world.amending)  # they need the call's parameters

    def close(self) -> None:
        """Close the connections to the account's server (kept open between calls)."""
        http, self._http = self._http, None
        if http is not None:
            http.close()

    def stash_call(self, params, model, context, **_) -> None:
        """before-parameter-build: keep the operation, and the caller's parameters when a fake
        answers or amends it, for __call__ (botocore hands `before-send` only the serialized
        request and its context). A copy: a fake keeps parts of them in its state, and callers
        reuse theirs (a paginator puts the next page's token in the same dict)."""
        if (model.service_model.service_id.hyphenize(), model.name) in self._seen_by_fakes:
            context[PARAMS_KEY] = _copy_of(params)
        context[MODEL_KEY] = model

    def choose_signer(self, event_name: str, **_):
        """choose-signer: requests that only a fake answers go unsigned. Nothing would check
        their signature (the account's server checks theirs), and signing them was ~2% of the
        test suite's CPU; an in-process world's others get an unchecked signature."""
        _event, service, operation = event_name.split(".", 2)
        if (service, operation) in self._fake_only:
            return UNSIGNED
        return unchecked_signer(self.world, service)

    def __call__(self, request, event_name: str = "", **_):
        world = self.world
        check_destination(world, request.url)
        _calls_sent[world.home] += 1
        context: Dict[str, Any] = request.context or {}
        model = context.get(MODEL_KEY)
        if model is None:
            raise SimulatorStopped(f"a dry run sends only API calls made by a client, not {request.url}")
        service = model.service_model.service_id.hyphenize()
        injector = world.injector
        fault = injector.draw(service, model.name) if injector else None
        if fault == "dropped":
            raise self._connection_closed(service)
        if fault in ("throttle", "server_error"):
            assert injector is not None
            code, status, message = injector.error_for(fault, service, model.service_model.protocol)
            return wire.error(model, request.url, code, message, status)
        response = self._apply(request, model, service, context.get(PARAMS_KEY, {}), event_name)
        if fault == "lost_answer":
            _ = response.content  # the whole answer was sent; it never arrives
            raise self._connection_closed(service)
        return response

    def _connection_closed(self, service: str) -> ConnectionClosedError:
        return ConnectionClosedError(endpoint_url=f"https://{service}.{self.world.region}.amazonaws.com/")

    def _apply(self, request, model, service: str, params: dict, event_name: str):
        world = self.world
        world.before_network_call(service)
        backend = world.answering.get((service, model.name))
        if backend is None:
            world.settle()
        else:
            with world.store.lock:  # one transaction: the account settled, then a fake's answer
                world.settle()
                try:
                    parsed = backend.answer(model.name, params)
                except SimError as e:
                    return wire.error(model, request.url, e.code, e.message, e.status)
            if parsed is not None:
                return wire.answer(model, request.url, parsed)
            if backend.answers_alone:  # its request went unsigned: moto would take it for another account's
                raise RuntimeError(f"the simulator's {service} fake did not answer {model.name}")
        # outside the store's lock: other processes need not wait on the server
        response = self._moto(request, event_name)
        amender = world.amending.get((service, model.name))
        if amender is not None and response.status_code < 300:
            parsed = wire.parse(model, response)
            amender.amend(model.name, params, parsed)
            response = wire.answer(model, request.url, parsed)
        return response

    def _moto(self, request, event_name: str):
        server = self.world.server
        if server is None:  # moto's mock runs in this process
            response = botocore_stubber(event_name, request)
            if response is None:
                raise SimulatorStopped(f"moto does not answer {request.url}; a dry run never sends it out")
            return response
        headers = request.headers.copy()
        headers[SIGNED_URL_HEADER] = request.url  # the server checks the signature against it
        routed = AWSPreparedRequest(
            request.method, server_url(request.url, server.port), headers, request.body, request.stream_output
        )
        if self._http is None:
            from botocore.httpsession import URLLib3Session

            # TCP_NODELAY, as botocore's clients have it: the server keeps connections open
            # (keepalive.py), and a request is two writes (head, body)
            self._http = URLLib3Session(
                proxies={}, timeout=60, socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
            )
        return self._http.send(routed)
