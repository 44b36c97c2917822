"""ElastiCache AUTH tokens: AWS's rules for them, and a generator that follows them.

The rules (CreateReplicationGroup's AuthToken in the API reference): 16-128 printable ASCII
characters; of the special characters only ! & # $ ^ < > - are allowed. Shared by the step
type (a token from the environment is checked before anything is created) and the
simulator (which refuses a bad one as AWS does).
"""

from __future__ import annotations

import re
import string

_TOKEN = re.compile(r"[A-Za-z0-9!&#$^<>-]{16,128}")
_ALPHABET = string.ascii_letters + string.digits  # no specials: nothing for a shell to expand
GENERATED_LENGTH = 64


def valid_auth_token(token) -> bool:
    return isinstance(token, str) and _TOKEN.fullmatch(token) is not None


def generate_auth_token() -> str:
    import secrets  # not at import: it loads OpenSSL's hashes, which `ops validate` never needs

    return "".join(secrets.choice(_ALPHABET) for _ in range(GENERATED_LENGTH))
