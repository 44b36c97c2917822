"""AWS sessions and clients, and the one retry policy every call goes through.

Clients use botocore's `standard` retry mode; on top of it, ops.aws.Aws.call retries
throttling and transient errors with tenacity (exponential backoff with jitter), sleeping on
the run's clock so simulated runs stay instant.
"""
import threading
from typing import Any, Callable, Dict, Optional

from .errors import BadInput

THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded",
    "TooManyRequestsException", "RequestThrottled", "RequestThrottledException",
    "ProvisionedThroughputExceededException", "SlowDown", "PriorRequestNotComplete",
})
TRANSIENT_CODES = THROTTLING_CODES | frozenset({
    "InternalError", "InternalFailure", "InternalServerError", "InternalServerException",
    "ServiceUnavailable", "ServiceUnavailableException", "RequestTimeout", "RequestTimeoutException",
})


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Code", "")


def error_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Message", "") or str(exc)


def is_transient(exc: BaseException) -> bool:
    """Throttling, 5xx, dropped connections and timeouts: worth trying again."""
    from botocore.exceptions import ConnectionError as BotoConnectionError, HTTPClientError

    if isinstance(exc, (BotoConnectionError, HTTPClientError)):
        return True
    response = getattr(exc, "response", None)
    if not response:
        return False
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return error_code(exc) in TRANSIENT_CODES or status >= 500


def is_throttling(exc: BaseException) -> bool:
    return error_code(exc) in THROTTLING_CODES


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

    def __init__(self, session, region: str, clock, dry_run: bool = False, max_attempts: int = 6,
                 limiter: Optional[RateLimiter] = None):
        self.session = session
        self.region = region
        self.clock = clock
        self.dry_run = dry_run
        self.max_attempts = max_attempts
        self.limiter = limiter
        self._clients: Dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str):
        with self._lock:
            return self._client(service)

    def _client(self, service: str):
        if service not in self._clients:
            from botocore.config import Config

            config = Config(region_name=self.region, retries={"mode": "standard", "max_attempts": 3},
                            user_agent_extra="ops-lab/0.1", connect_timeout=10, read_timeout=60,
                            # a dry run must never follow AWS_ENDPOINT_URL out of the simulator
                            ignore_configured_endpoint_urls=True if self.dry_run else None)
            self._clients[service] = self.session.client(service, config=config)
        return self._clients[service]

    def call(self, operation: Callable, **kwargs):
        """operation(**kwargs), retrying throttling and transient failures with backoff."""
        from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

        retrying = Retrying(retry=retry_if_exception(is_transient), stop=stop_after_attempt(self.max_attempts),
                            wait=wait_random_exponential(multiplier=1, max=20), sleep=self.clock.sleep,
                            reraise=True)
        client = getattr(operation, "__self__", None)
        if self.limiter is None or not hasattr(client, "meta"):  # not a client call: no per-service limit
            return retrying(operation, **kwargs)
        service = client.meta.service_model.service_name

        def attempt():
            self.limiter.acquire(service)
            return operation(**kwargs)

        return retrying(attempt)


def real_session(region: Optional[str], profile: Optional[str]):
    """A boto3 session from --region/--profile and the standard AWS_* environment, checked."""
    import boto3
    from botocore.exceptions import ProfileNotFound

    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except ProfileNotFound as exc:
        raise BadInput(f"AWS profile not found: {exc}.",
                       "Check --profile / AWS_PROFILE against 'aws configure list-profiles'.") from None
    if not session.region_name:
        raise BadInput("no AWS region is set.",
                       "Pass --region (e.g. --region us-east-1), set AWS_REGION, or set a region in your profile.")
    if session.get_credentials() is None:
        raise BadInput("no AWS credentials were found.",
                       "Run 'aws configure' or 'aws sso login', set AWS_PROFILE or pass --profile; "
                       "or rehearse offline with --dry-run.")
    return session
