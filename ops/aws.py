"""AWS sessions and clients, the one retry policy every call goes through, and what a failed
call means to the person who ran ops.

Clients use botocore's `standard` retry mode; on top of it, ops.aws.Aws.call retries
throttling and transient errors with tenacity (exponential backoff with jitter), sleeping on
the run's clock so simulated runs stay instant. An endpoint that has never answered is not
retried beyond botocore's attempts: that is a network or AWS_ENDPOINT_URL problem, not a
blip. Commands people wait for (plan, status, doctor...) connect with a short timeout; run
and teardown are patient.

aws_failure() turns network, credential, permission and throttling failures into one
paragraph and an exit code (ops.errors), for the CLI's error boundary and for `ops doctor`.
"""

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

# (botocore's attempts per call, connect timeout in seconds). The commands people wait for
# report an unreachable endpoint within a few seconds (Aws.call still retries throttling);
# run and teardown wait out a slow network.
FAIL_FAST = (2, 3)
PATIENT = (4, 10)


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
    """Clients for one region (real or simulated), and the retrying call wrapper."""

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
        max_attempts: int = 6,
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
        self._lock = threading.Lock()

    def client(self, service: str):
        with self._lock:
            return self._client(service)

    def _client(self, service: str):
        if service not in self._clients:
            from botocore.config import Config

            attempts, connect_timeout = PATIENT if self.patient else FAIL_FAST
            config = Config(
                region_name=self.region,
                retries={"mode": "standard", "total_max_attempts": attempts},
                user_agent_extra="ops-lab/0.1",
                connect_timeout=connect_timeout,
                read_timeout=60,
                # a dry run must never follow AWS_ENDPOINT_URL out of the simulator
                ignore_configured_endpoint_urls=True if self.dry_run else None,
            )
            client = self.session.client(service, config=config)
            client.meta.events.register("after-call", self._answered)
            self._clients[service] = client
        return self._clients[service]

    def _answered(self, **_) -> None:
        self.reached = True

    def _worth_retrying(self, exc: BaseException) -> bool:
        """Transient failures, except a connection to an endpoint that never answered."""
        return is_transient(exc) and (self.reached or not is_unreachable(exc))

    def listing(self, client, operation: str, key: str, **kwargs) -> list:
        """Every item under `key` of a listing, from all its pages (botocore's paginator: a
        first page alone stops at 100 roles, tables or clusters); on a transient failure the
        listing is asked again from its start."""
        paginator = client.get_paginator(operation)
        pages = self.call(lambda: list(paginator.paginate(**kwargs)))
        return [item for page in pages for item in page.get(key, [])]

    def call(self, operation: Callable, **kwargs):
        """operation(**kwargs), retrying throttling and transient failures with backoff."""
        from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

        retrying = Retrying(
            retry=retry_if_exception(self._worth_retrying),
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_random_exponential(multiplier=1, max=20),
            sleep=self.clock.sleep,
            reraise=True,
        )
        client: Any = getattr(operation, "__self__", None)  # a botocore client (untyped), for a client call
        limiter = self.limiter
        if limiter is None or not hasattr(client, "meta"):  # not a client call: no per-service limit
            return retrying(operation, **kwargs)
        service = client.meta.service_model.service_name

        def attempt():
            limiter.acquire(service)
            return operation(**kwargs)

        return retrying(attempt)


def real_session(region: Optional[str], profile: Optional[str]):
    """A boto3 session from --region/--profile and the standard AWS_* environment, checked."""
    import boto3
    from botocore.exceptions import ProfileNotFound

    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except ProfileNotFound as exc:
        raise BadInput(
            f"AWS profile not found: {exc}.", "Check --profile / AWS_PROFILE against 'aws configure list-profiles'."
        ) from None
    if not session.region_name:
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
