"""Who may use a persistent simulated account: only the holder of the keys ops made for it.

A kept dry run leaves the account's server listening on a loopback port, where any local
process (another user, any program) could otherwise call it, and read, say, the SSM
SecureString that holds a cluster's AUTH token. So each new server gets a random access
key id and secret (HOME/credentials.json, 0600, readable by the owner only), ops signs
every request to it with them (SigV4, as boto3 signs for AWS), and the server checks each
request's signature, moto's API and its own /_ops/ paths alike, before anything answers.
A request that is unsigned, signed with another key or secret, carries a session token
(these keys are long-term ones), is dated more than 15 minutes off, or whose body is not
the one signed is refused as that service's AWS endpoint refuses it, in its error shape.
The secret never crosses the socket; like the gates' AUTH check (network.py), the
comparison takes constant time.

Presigned URLs (the signature in the query string) are not accepted: ops makes none.

In-process worlds need none of this: moto's mock answers only inside their own process.
"""

import hashlib
import hmac
import json
import os
import re
import secrets
import string
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, Optional, Tuple
from urllib.parse import quote
from xml.sax.saxutils import escape

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

KEYS_FILE = "credentials.json"
# The header a sim session adds after signing: the URL it signed (the request itself goes to
# the server's loopback address, with S3's virtual-hosted bucket moved into the path).
SIGNED_URL_HEADER = "X-Ops-Signed-Url"
_MAX_SKEW_SECONDS = 15 * 60
_KEY_ALPHABET = string.ascii_uppercase + "234567"  # as AWS access key ids: AKIA + 16 of these


@dataclass(frozen=True)
class AccountKeys:
    access_key_id: str
    secret_access_key: str = field(repr=False)

    def credentials(self) -> Credentials:
        return Credentials(self.access_key_id, self.secret_access_key)


def make_keys(home: Path) -> AccountKeys:
    """New random keys for the account in `home`, saved owner-only (replacing any old ones)."""
    keys = AccountKeys("AKIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16)), secrets.token_urlsafe(30))
    temporary = home / f".{KEYS_FILE}.{os.getpid()}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"access_key_id": keys.access_key_id, "secret_access_key": keys.secret_access_key}, f)
    os.replace(temporary, home / KEYS_FILE)
    return keys


def read_keys(home: Path) -> AccountKeys:
    """The account's keys (OSError, ValueError or KeyError when there are none)."""
    data = json.loads((home / KEYS_FILE).read_text())
    return AccountKeys(data["access_key_id"], data["secret_access_key"])


def signed_headers(keys: AccountKeys, method: str, url: str, body: bytes, headers: Dict[str, str]) -> Dict[str, str]:
    """`headers` plus the SigV4 signature of the request (for the server's own /_ops/ API)."""
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(keys.credentials(), "ops", "us-east-1").add_auth(request)
    return dict(request.headers.items())


# the server's side

Refusal = Tuple[str, list, bytes]  # a WSGI status line, headers, body

_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)
_INVALID_TOKEN = "The security token included in the request is invalid."
# what each kind of refusal is, per error shape: (HTTP status, code, message)
_ANSWERS = {
    "query": {
        "missing": (403, "MissingAuthenticationToken", "Request is missing Authentication Token"),
        "malformed": (400, "IncompleteSignature", "{detail}"),
        "key": (403, "InvalidClientTokenId", _INVALID_TOKEN),
        "token": (403, "InvalidClientTokenId", _INVALID_TOKEN),
        "signature": (403, "SignatureDoesNotMatch", _SIGNATURE),
        "expired": (403, "SignatureDoesNotMatch", "Signature expired: {detail}"),
    },
    "json": {
        "missing": (400, "MissingAuthenticationTokenException", "Missing Authentication Token"),
        "malformed": (400, "IncompleteSignatureException", "{detail}"),
        "key": (400, "UnrecognizedClientException", _INVALID_TOKEN),
        "token": (400, "UnrecognizedClientException", _INVALID_TOKEN),
        "signature": (400, "InvalidSignatureException", _SIGNATURE),
        "expired": (400, "InvalidSignatureException", "Signature expired: {detail}"),
    },
    "ec2": {
        "missing": (401, "AuthFailure", "AWS was not able to validate the provided access credentials"),
        "malformed": (400, "IncompleteSignature", "{detail}"),
        "key": (401, "AuthFailure", "AWS was not able to validate the provided access credentials"),
        "token": (401, "AuthFailure", "AWS was not able to validate the provided access credentials"),
        "signature": (401, "AuthFailure", "AWS was not able to validate the provided access credentials"),
        "expired": (400, "RequestExpired", "Request has expired."),
    },
    "s3": {
        "missing": (403, "AccessDenied", "Access Denied"),
        "malformed": (400, "AuthorizationHeaderMalformed", "The authorization header is malformed; {detail}"),
        "key": (403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."),
        "token": (400, "InvalidToken", "The provided token is malformed or otherwise invalid."),
        "signature": (
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the "
            "signature you provided. Check your key and signing method.",
        ),
        "expired": (
            403,
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        ),
        "payload": (
            400,
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        ),
    },
}
# the server's own /_ops/ API: AWS's words, always 403, in JSON
_ANSWERS["ops"] = {kind: (403, code, message) for kind, (_, code, message) in _ANSWERS["query"].items()}
_AUTHORIZATION = re.compile(r"^AWS4-HMAC-SHA256 (.*)$")
_SCOPE = re.compile(r"^([^/]+)/(\d{8})/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request$")
_HEX_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def refusal(keys: AccountKeys, environ: dict, body: bytes, now: Optional[float] = None) -> Optional[Refusal]:
    """None when the WSGI request is signed with `keys`, else the answer AWS would give it."""
    headers = {name[5:].replace("_", "-").lower(): value for name, value in environ.items() if name.startswith("HTTP_")}
    for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(name):
            headers[name.replace("_", "-").lower()] = environ[name]
    match = _AUTHORIZATION.match(headers.get("authorization", ""))
    if not match:
        return _answer(_shape(None, headers, environ), "missing")
    fields = dict(part.strip().split("=", 1) for part in match.group(1).split(",") if "=" in part)
    scope = _SCOPE.match(fields.get("Credential", ""))
    service = scope.group(4) if scope else None
    shape = _shape(service, headers, environ)
    amz_date = headers.get("x-amz-date", "")
    if not (scope and fields.get("SignedHeaders") and fields.get("Signature")):
        return _answer(
            shape,
            "malformed",
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.",
        )
    if not re.match(r"^\d{8}T\d{6}Z$", amz_date):
        return _answer(shape, "malformed", "Authorization header requires existence of a valid 'X-Amz-Date' header.")
    if not hmac.compare_digest(scope.group(1).encode(), keys.access_key_id.encode()):
        return _answer(shape, "key", access_key_id=scope.group(1))
    if "x-amz-security-token" in headers:
        return _answer(shape, "token")
    signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
    now = time.time() if now is None else now
    if abs(now - signed_at) > _MAX_SKEW_SECONDS:
        at = datetime.fromtimestamp(now, timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        return _answer(shape, "expired", f"{amz_date} is not within 15 minutes of {at}.")
    url = (
        headers.get(SIGNED_URL_HEADER.lower())
        or f"http://{headers.get('host', '')}{environ.get('RAW_URI') or quote(environ.get('PATH_INFO', ''))}"
    )
    names = fields["SignedHeaders"].split(";")
    request = AWSRequest(
        method=environ["REQUEST_METHOD"],
        url=url,
        data=body,
        headers={name: headers.get(name, "") for name in names if name != "host"},
    )
    request.context["timestamp"] = amz_date
    signer = (S3SigV4Auth if service == "s3" else SigV4Auth)(keys.credentials(), service, scope.group(3))
    string_to_sign = signer.string_to_sign(request, signer.canonical_request(request))
    if scope.group(2) != amz_date[:8] or not hmac.compare_digest(
        signer.signature(string_to_sign, request).encode(), fields["Signature"].encode()
    ):
        return _answer(shape, "signature", access_key_id=scope.group(1))
    claimed = headers.get("x-amz-content-sha256", "")
    if _HEX_SHA256.match(claimed) and claimed != hashlib.sha256(body).hexdigest():
        return _answer(shape, "payload" if shape == "s3" else "signature")
    return None


def _shape(service: Optional[str], headers: Dict[str, str], environ: dict) -> str:
    """How the service answering this request words its errors."""
    if environ.get("PATH_INFO", "").startswith("/_ops/"):
        return "ops"
    if service in ("s3", "ec2"):
        return service
    if "x-amz-target" in headers or "json" in headers.get("content-type", ""):
        return "json"
    if service is None and "x-www-form-urlencoded" not in headers.get("content-type", ""):
        return "s3"  # unsigned and not an API call in a form: REST, as S3 is
    return "query"


def _answer(shape: str, kind: str, detail: str = "", access_key_id: str = "") -> Refusal:
    status, code, message = _ANSWERS[shape][kind]
    message = message.format(detail=detail)
    request_id = str(uuid.uuid4())
    if shape in ("json", "ops"):
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("x-amzn-RequestId", request_id),
            ("x-amzn-ErrorType", code),
        ]
    elif shape == "ec2":
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
            f"<Message>{escape(message)}</Message></Error></Errors><RequestID>{request_id}</RequestID>"
            "</Response>"
        ).encode()
        headers = [("Content-Type", "text/xml;charset=UTF-8")]
    elif shape == "s3":
        key = f"<AWSAccessKeyId>{escape(access_key_id)}</AWSAccessKeyId>" if access_key_id else ""
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{escape(message)}'
            f"</Message>{key}<RequestId>{request_id[:16].upper()}</RequestId></Error>"
        ).encode()
        headers = [("Content-Type", "application/xml"), ("x-amz-request-id", request_id[:16].upper())]
    else:
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{escape(message)}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
    reason = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden"}[status]
    return f"{status} {reason}", headers + [("Content-Length", str(len(body)))], body
