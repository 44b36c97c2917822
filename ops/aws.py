"""AWS sessions and clients, the one retry policy every call goes through, and what a failed
call means to the person who ran ops.

One retry layer: botocore's `standard` retry mode retries throttling, 5xx answers, dropped
connections and timeouts (exponential backoff with jitter, capped at 20 s, within its retry
quota), up to ATTEMPTS tries per call; its sleeps are taken on the run's clock, so a
simulated run's backoffs cost no real time (the simulator's faults happen on its network,
inside that loop: ops/sim/transport.py). What botocore does not retry (a resource still
changing, eventual consistency) is each step's to wait out (ops.waiting). An endpoint that
has never answered gets few tries: that is a network or AWS_ENDPOINT_URL problem, not a
blip. Commands people wait for (plan, status, doctor...) connect with a short timeout; run
and teardown are patient.

aws_failure() turns network, credential, permission and throttling failures into one
paragraph and an exit code (ops.errors), for the CLI's error boundary and for `ops doctor`.

Code that expects an error catches it by what it is: the client's modeled exception where the
service models it (`except client.exceptions.NoSuchEntityException:`), else botocore's
ClientError with error_code() (EC2 models none; ResourceKind.not_found lists codes of any
service); transient failures also come as BotoCoreError (no answer). A handler that must catch
everything says why (`# noqa: BLE001 - <reason>`; tests/test_error_matching.py checks).
"""

from __future__ import annotations

import os
import re
import sys
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional

from .errors import BadInput, OpsError

if TYPE_CHECKING:
    from .sim.world import SimWorld

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "ProvisionedThroughputExceededException",
        "SlowDown",
        "PriorRequestNotComplete",
    }
)
TRANSIENT_CODES = THROTTLING_CODES | frozenset(
    {
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "InternalServerException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Code", "")


def error_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Message", "") or str(exc)


def is_transient(exc: BaseException) -> bool:
    """Throttling, 5xx, dropped connections and timeouts: worth trying again."""
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError

    if isinstance(exc, (BotoConnectionError, HTTPClientError)):
        return True
    response = getattr(exc, "response", None)
    if not response:
        return False
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return error_code(exc) in TRANSIENT_CODES or status >= 500


def is_throttling(exc: BaseException) -> bool:
    return error_code(exc) in THROTTLING_CODES


def answer_may_be_lost(exc: BaseException) -> bool:
    """The request was sent and its answer never came: it may have been applied."""
    from botocore.exceptions import ConnectionClosedError, ReadTimeoutError

    return isinstance(exc, (ConnectionClosedError, ReadTimeoutError))


def is_unreachable(exc: BaseException) -> bool:
    """No connection could be made: refused, timed out, no route, no DNS, TLS or proxy failure."""
    from botocore.exceptions import ConnectionError as BotoConnectionError

    return isinstance(exc, BotoConnectionError)


CREDENTIAL_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "AuthFailure",
        "InvalidToken",
        "TokenRefreshRequired",
        "RequestExpired",
    }
)
CREDENTIAL_FAILURES = frozenset(
    {  # botocore's own, before any request is sent
        "NoCredentialsError",
        "PartialCredentialsError",
        "ProfileNotFound",
        "TokenRetrievalError",
        "SSOTokenLoadError",
        "UnauthorizedSSOTokenError",
        "CredentialRetrievalError",
    }
)
CREDENTIAL_HINTS = {
    "ExpiredToken": "Your session expired: log in again (e.g. 'aws sso login') and re-run.",
    "ExpiredTokenException": "Your session expired: log in again (e.g. 'aws sso login') and re-run.",
    "SignatureDoesNotMatch": "The secret key does not belong to the access key: check AWS_SECRET_ACCESS_KEY or the "
    "profile's credentials.",
    "RequestExpired": "The request's time was refused: check that this machine's clock is right.",
}
CHECK_CREDENTIALS = (
    "Check the credentials in use ('aws sts get-caller-identity'; --profile / AWS_PROFILE, "
    "AWS_ACCESS_KEY_ID), or rehearse offline with --dry-run."
)


def is_denied(exc: BaseException) -> bool:
    code = error_code(exc)
    return code.startswith("AccessDenied") or code == "UnauthorizedOperation"


def aws_failure(exc: BaseException) -> Optional[OpsError]:
    """What a failed AWS call means, as an OpsError: unreachable or throttled (exit 1), or
    credentials that are missing, refused or lack a permission (BadInput, exit 2). None for
    anything else (a bug in ops, or an answer its caller should have handled)."""
    if "botocore" not in sys.modules:  # it never ran: nothing of this kind can have happened
        return None
    from botocore.exceptions import HTTPClientError

    if is_unreachable(exc) or isinstance(exc, HTTPClientError):
        return _unreachable(exc)
    code, operation = error_code(exc), getattr(exc, "operation_name", "") or "a call"
    if exc.__class__.__name__ in CREDENTIAL_FAILURES:
        return BadInput(f"no usable AWS credentials: {exc}.", CHECK_CREDENTIALS)
    if code in CREDENTIAL_CODES:
        return BadInput(
            f"AWS refused the credentials when ops called {operation} ({code}: {error_message(exc).rstrip('.')}).",
            CREDENTIAL_HINTS.get(code, CHECK_CREDENTIALS),
        )
    if is_denied(exc):
        return BadInput(
            f"AWS denied {operation} to these credentials ({code}: {error_message(exc).rstrip('.')}).",
            "Ask for the permission (the policy 'ops iam-policy PLAYBOOK' prints has what a lab "
            "needs), or use other credentials (--profile).",
        )
    if is_transient(exc):
        return OpsError(
            f"AWS kept answering {code or 'an error'} to {operation} after ops retried "
            f"({error_message(exc).rstrip('.')}).",
            "Wait a minute and re-run; with many labs at once, lower --parallel or the rate_limits in your config.",
        )
    return None


def _unreachable(exc: BaseException) -> OpsError:
    from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError, SSLError

    kwargs = getattr(exc, "kwargs", {})
    endpoint = kwargs.get("endpoint_url") or kwargs.get("proxy_url") or "its endpoint"
    parts = re.match(r"^(\w+://[^/]+/)", str(endpoint))
    endpoint = parts.group(1) if parts else endpoint  # the endpoint, not the call's path (REST services)
    low_level = re.search(r"\[Errno -?\d+\] [^'\"()]+", str(kwargs.get("error", "")))
    if isinstance(exc, ConnectTimeoutError):
        why = "the connection timed out"
    elif isinstance(exc, ReadTimeoutError):
        why = "it did not answer in time"
    elif isinstance(exc, SSLError):
        why = f"the TLS connection failed ({kwargs.get('error')})"
    else:
        why = low_level.group(0).strip() if low_level else str(exc)
    hint = "Check your network, credentials and region, then re-run."
    configured = os.environ.get("AWS_ENDPOINT_URL")
    if configured and str(endpoint).startswith(configured.rstrip("/")):
        hint = (
            f"AWS_ENDPOINT_URL={configured} sends every call there: start what should answer on it, or unset "
            "it to reach AWS."
        )
    elif isinstance(exc, SSLError):
        hint = "If a proxy inspects TLS here, point AWS_CA_BUNDLE at its CA certificate; " + hint[0].lower() + hint[1:]
    return OpsError(f"could not reach AWS at {endpoint}: {why}.", hint)


DRY_RUN_DEFAULT_REGION = "us-east-1"  # a dry run's region when nothing names one

ATTEMPTS = 8  # tries per call at throttling and transient failures (botocore's own default: 3)
# Calls that must not be re-sent blind when their answer may have been lost (the request may
# have been applied): the caller finds out what happened instead (ops/steps/ssm_command.py).
NOT_RESENT = frozenset({"SendCommand"})
# (tries at an endpoint that has never answered, connect timeout in seconds). The commands people
# wait for report an unreachable endpoint within a few seconds; run and teardown wait out a slow
# network.
FAIL_FAST = (2, 3)
PATIENT = (4, 10)


def retry_on_clock(client, clock, may_retry: Callable[..., bool], before_retry: Callable[[], None]) -> None:
    """Make `client` (created with retries mode `standard`) take its retry sleeps on `clock`.

    botocore asks its `needs-retry` handler how long to wait, then calls time.sleep itself;
    the standard handler is replaced by one that asks it, vetoes what `may_retry(attempts=,
    operation=, caught_exception=)` refuses, sleeps on the clock, calls `before_retry`, and tells botocore
    to wait 0 s."""
    from botocore.retries import standard

    service = client.meta.service_model.service_id.hyphenize()
    event, botocore_id = f"needs-retry.{service}", f"retry-config-{service}"
    client.meta.events.unregister(event, unique_id=botocore_id)
    policy = standard.register_retry_handler(client, client.meta.config.retries["total_max_attempts"])
    client.meta.events.unregister(event, unique_id=botocore_id)

    def needs_retry(attempts, operation, caught_exception=None, **kwargs):
        if not may_retry(attempts=attempts, operation=operation.name, caught_exception=caught_exception):
            return None
        delay = policy.needs_retry(attempts=attempts, operation=operation, caught_exception=caught_exception, **kwargs)
        if delay is None:
            return None
        clock.sleep(delay)
        before_retry()
        return 0

    client.meta.events.register(event, needs_retry, unique_id=f"ops-retry-{service}")


class RateLimiter:
    """A token bucket per service, on the run's clock, shared by every lab of a run, so that
    many labs at once stay under the API's rate instead of being throttled in a cascade."""

    def __init__(self, clock, rates: Dict[str, float], burst: float = 10.0):
        self.clock = clock
        self.rates = rates
        self.burst = burst
        self._buckets: Dict[str, list] = {}
        self._lock = threading.Lock()

    def acquire(self, service: str) -> None:
        rate = float(self.rates.get(service, self.rates.get("default", 0)) or 0)
        if rate <= 0:
            return
        while True:
            with self._lock:
                now = self.clock.now()
                tokens, last = self._buckets.get(service, [self.burst, now])
                tokens = min(self.burst, tokens + (now - last) * rate)
                if tokens >= 1 - 1e-9:  # float dust must not turn into endless tiny sleeps
                    self._buckets[service] = [max(0.0, tokens - 1), now]
                    return
                self._buckets[service] = [tokens, now]
                wait = max(1e-3, (1 - tokens) / rate)
            self.clock.sleep(wait)


class Aws:
    """Clients for one region (real or simulated) that retry on the run's clock, and the call
    wrapper that paces them."""

    # set by ops.engine.target on a dry run's Aws only, so they are declared, not assigned here: code
    # reads them with getattr(aws, ..., default)
    world: "SimWorld"  # the simulated account
    persistent: bool  # does that account outlive this process?

    def __init__(
        self,
        session,
        region: str,
        clock,
        dry_run: bool = False,
        max_attempts: int = ATTEMPTS,
        limiter: Optional[RateLimiter] = None,
        patient: bool = False,
    ):
        """patient: run and teardown, which wait out a slow connection; other commands fail fast
        (a dry run's simulated account is local: it always gets the patient settings)."""
        self.session = session
        self.region = region
        self.clock = clock
        self.dry_run = dry_run
        self.max_attempts = max_attempts
        self.limiter = limiter
        self.patient = patient or dry_run
        self.reached = False  # has any endpoint answered (anything at all) yet?
        self._clients: Dict[str, Any] = {}
        self._shared: Dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str):
        with self._lock:
            return self._client(service)

    def _client(self, service: str):
        if service not in self._clients:
            from botocore.config import Config

            _, connect_timeout = PATIENT if self.patient else FAIL_FAST
            config = Config(
                region_name=self.region,
                retries={"mode": "standard", "total_max_attempts": self.max_attempts},
                user_agent_extra="ops-lab/0.1",
                connect_timeout=connect_timeout,
                read_timeout=60,
                # a dry run must never follow AWS_ENDPOINT_URL out of the simulator
                ignore_configured_endpoint_urls=True if self.dry_run else None,
            )
            client = self.session.client(service, config=config)
            # botocore builds a client's exception classes on first use, unlocked: two threads
            # there at once could each build a set, and one thread's except clause then miss
            # the modeled error another's call raised. Built here, under the lock, once.
            client.exceptions  # noqa: B018
            client.meta.events.register("response-received", self._answered)
            retry_on_clock(client, self.clock, self._may_retry, lambda: self._pace(client))
            self._clients[service] = client
        return self._clients[service]

    def shared(self, key: str, make: Callable[[], Any]) -> Any:
        """The one object under `key` for everything that uses this account (made by make()
        on first use): the labs of a run share their Aws, and so their shared describes."""
        with self._lock:
            if key not in self._shared:
                self._shared[key] = make()
            return self._shared[key]

    def _answered(self, response_dict=None, **_) -> None:
        if response_dict is not None:
            self.reached = True

    def _may_retry(self, attempts: int, operation: str, caught_exception: Optional[BaseException]) -> bool:
        """Not once an endpoint that has never answered has had its few tries; never a call in
        NOT_RESENT whose answer may have been lost."""
        if operation in NOT_RESENT and caught_exception is not None and answer_may_be_lost(caught_exception):
            return False
        tries, _ = PATIENT if self.patient else FAIL_FAST
        unreachable = caught_exception is not None and is_unreachable(caught_exception)
        return not (unreachable and not self.reached and attempts >= tries)

    def _pace(self, client) -> None:
        """Wait for the service's rate limit (RateLimiter), if the run has one, before a request."""
        if self.limiter is not None:
            self.limiter.acquire(client.meta.service_model.service_name)

    def listing(self, client, operation: str, key: str, **kwargs) -> list:
        """Every item under `key` of a listing, from all its pages (botocore's paginator: a
        first page alone stops at 100 roles, tables or clusters)."""
        paginator = client.get_paginator(operation)
        self._pace(client)
        return [item for page in paginator.paginate(**kwargs) for item in page.get(key, [])]

    def call(self, operation: Callable, **kwargs):
        """operation(**kwargs), paced by the run's rate limits when it is a client call (its
        client retries what is worth retrying: retry_on_clock)."""
        client: Any = getattr(operation, "__self__", None)  # a botocore client (untyped), for a client call
        if hasattr(client, "meta"):
            self._pace(client)
        return operation(**kwargs)


def real_session(region: Optional[str], profile: Optional[str]):
    """A boto3 session from --region/--profile and the standard AWS_* environment, checked.
    Its models are parsed once per process (ops/shared_loader.py), whatever the sessions."""
    import boto3
    from botocore.exceptions import ProfileNotFound

    from .shared_loader import session_with_shared_loader

    try:
        session = boto3.Session(botocore_session=session_with_shared_loader(profile), region_name=region)
        chosen_region = session.region_name
    except ProfileNotFound as exc:
        raise BadInput(
            f"AWS profile not found: {exc}.", "Check --profile / AWS_PROFILE against 'aws configure list-profiles'."
        ) from None
    if not chosen_region:
        raise BadInput(
            "no AWS region is set.",
            "Pass --region (e.g. --region us-east-1), set AWS_REGION, or set a region in your profile.",
        )
    if session.get_credentials() is None:
        raise BadInput(
            "no AWS credentials were found.",
            "Run 'aws configure' or 'aws sso login', set AWS_PROFILE or pass --profile; "
            "or rehearse offline with --dry-run.",
        )
    return session


def configured_attempts(session) -> int:
    """Tries per call: AWS_MAX_ATTEMPTS or the profile's max_attempts when the user set one,
    as the AWS CLI and SDKs honour them; ATTEMPTS otherwise (botocore's default of 3 is too few
    for labs that make dozens of calls against throttled APIs)."""
    try:
        configured = session._session.get_config_variable("max_attempts")  # env, then the profile
    except ValueError:
        configured = os.environ.get("AWS_MAX_ATTEMPTS", "?")
    if configured is None:
        return ATTEMPTS
    try:
        attempts = int(configured)
    except (TypeError, ValueError):
        attempts = 0
    if attempts < 1:
        raise BadInput(
            f"max_attempts {configured} (AWS_MAX_ATTEMPTS or the profile's max_attempts) is not a number of tries.",
            f"Give a whole number of 1 or more, or unset it (ops then tries each call up to {ATTEMPTS} times).",
        )
    return attempts
