"""Where lab records live: a folder on this machine (.ops/state), or an S3 prefix a team shares.

Both hold the same JSON document, one per lab (`<lab>.json`), so a record moves between them
unchanged (`ops state push|pull`). A slot is one lab's place in a store: read() gives the
record and its revision (S3: its ETag), write() replaces it and gives the new revision.

In S3 every write is conditional: it names the revision (ETag) it replaces (If-Match), or
that there was none (If-None-Match: *). S3 refuses a write based on a stale copy (412
PreconditionFailed, or 409 ConditionalRequestConflict when two writes race), so one process
never overwrites another's work unseen. Records carry a serial that every write raises, so
two writes never leave identical bytes (and an ETag is never reused for different history).

A slot's file or key is built only from a lab name (names.py), and every record read from
either store is checked (record_schema.py) before anything acts on it.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Protocol, Sequence, Tuple

from ..aws import error_code, error_message, is_transient
from ..errors import BadInput, OpsError
from ..names import check_lab, check_record_file, inside, is_lab_name, lab_of_record_file, shown
from ..paths import private_dir, state_dir
from .record_schema import check_record

Revision = Optional[str]  # what a store knows one copy of a record as: S3 its ETag, a folder nothing


class RecordSlot(Protocol):
    """Where one lab's record is kept (LocalSlot, S3Slot): read it with its revision, and
    write or remove it only if it is still at that revision (StaleRecord otherwise)."""

    remote: bool

    def where(self) -> str: ...

    def read(self) -> Tuple[Optional[Dict[str, Any]], Revision]: ...

    def write(self, data: Dict[str, Any], revision: Revision) -> Revision: ...

    def remove(self, revision: Revision) -> None: ...


class RecordStore(Protocol):
    """Where a command's lab records are (LocalRecords: .ops/ here; S3Records: a team's prefix)."""

    remote: bool

    def where(self) -> str: ...

    def slot(self, lab: str) -> RecordSlot: ...

    def slots(self) -> Sequence[RecordSlot]: ...


OPS_OWN = "_"  # starts the name of what ops keeps beside the records (the wait history), and no lab's
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
REFUSED_WRITE = ("PreconditionFailed", "ConditionalRequestConflict")


class StaleRecord(OpsError):
    """Another process wrote the record since this one read it."""


class StateUnavailable(OpsError):
    """The shared store did not answer (or refused us) in the middle of work."""


@dataclass(frozen=True)
class Location:
    """s3://BUCKET/PREFIX"""

    bucket: str
    prefix: str  # "" or ending in "/"

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def key(self, file_name: str) -> str:
        """The key of a lab's record or lock (`LAB.json`, `LAB.lock`) under the prefix."""
        return f"{self.prefix}{check_record_file(file_name)}"


def parse_location(text: str, source: str = "--state", line: int = 0) -> Location:
    """Check an s3://BUCKET/PREFIX location (bad input, exit 2, when it is not one)."""
    match = re.match(r"^s3://([^/]+)(?:/(.*))?$", text.strip())
    if not match:
        raise BadInput(
            f"state location {text!r} is not s3://BUCKET/PREFIX.",
            "Write e.g. --state s3://my-team-ops-state/labs (omit --state to keep records here).",
            source,
            line,
        )
    bucket, prefix = match.group(1), (match.group(2) or "").strip("/")
    if not BUCKET_NAME.match(bucket) or ".." in bucket:
        raise BadInput(
            f"'{bucket}' is not a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens).",
            "Check the bucket part of s3://BUCKET/PREFIX.",
            source,
            line,
        )
    return Location(bucket, f"{prefix}/" if prefix else "")


# --- a folder here ------------------------------------------------------------------


class LocalSlot:
    """One lab's record in a folder: an owner-only file, replaced atomically. store: the
    LocalRecords it belongs to (None for a file of its own, such as a sweep's throwaway
    record).

    A real run's record is on the disk (fsync) before the file replaces the last one, so that
    even a machine that loses power keeps track of what costs money. A dry run's is not: its
    simulated account is not synced either, nothing in it is billed, and under load each sync
    waited for every other write on the disk (half a minute of the suite's waiting)."""

    remote = False

    def __init__(self, path: Path, store: Optional["LocalRecords"] = None):
        self.path = path
        self.store = store

    def where(self) -> str:
        return str(self.path)

    def read(self) -> Tuple[Optional[Dict[str, Any]], Revision]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None, None
        except (OSError, ValueError) as exc:
            raise BadInput(
                f"the state file is unreadable ({exc}).",
                "Restore it from a backup, or remove it if nothing from that run exists any more.",
                str(self.path),
            ) from None
        return check_record(data, str(self.path)), None

    def write(self, data: Dict[str, Any], revision: Revision = None) -> Revision:
        private_dir(self.path.parent)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".state-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(data, handle, indent=2, sort_keys=True)
                handle.flush()
                if self.store is None or not self.store.dry_run:
                    os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return None

    def remove(self, revision: Revision = None) -> None:
        self.path.unlink(missing_ok=True)


class LocalRecords:
    remote = False

    def __init__(self, root: Path, dry_run: bool):
        self.root, self.dry_run = root, dry_run
        self.folder = state_dir(root, dry_run)

    def where(self) -> str:
        return str(self.folder)

    def slot(self, lab: str) -> LocalSlot:
        return LocalSlot(inside(self.folder, f"{check_lab(lab)}.json"), self)

    def slots(self) -> List[LocalSlot]:
        """Every record (not the temporary files of an interrupted write), each named for its lab."""
        if not self.folder.is_dir():
            return []
        found = [p for p in sorted(self.folder.glob("*.json")) if not p.name.startswith(".")]
        for path in found:
            if lab_of_record_file(path.name) is None:
                raise BadInput(
                    f"{shown(path.name)} in {self.folder} is not named like a lab's record "
                    "(LAB.json, with LAB a lab name).",
                    "Only ops writes there: move that file elsewhere, or, if it is a lab's record, "
                    "name it after the lab ('lab' in it).",
                    str(path),
                )
        return [LocalSlot(path, self) for path in found]


# --- S3 --------------------------------------------------------------------------------


class S3Records:
    """Records under s3://BUCKET/PREFIX, read and written through one S3 client."""

    remote = True

    def __init__(self, location: Location, aws):
        """aws: the command's target; its session is used with a wall clock, since records
        (and lock leases) live in real time even in a simulated run, and a write must not wait
        for simulated time while it holds the record."""
        from ..aws import Aws
        from ..clock import WallClock

        self.location = location
        self.aws = Aws(aws.session, aws.region, WallClock(), dry_run=aws.dry_run, max_attempts=4, patient=aws.patient)

    @property
    def client(self):
        return self.aws.client("s3")

    def where(self) -> str:
        return self.location.url

    def slot(self, lab: str) -> "S3Slot":
        return S3Slot(self, lab)

    def slots(self) -> List["S3Slot"]:
        found, token = [], None
        while True:
            page = self.call(
                "list the records in",
                self.client.list_objects_v2,
                Bucket=self.location.bucket,
                Prefix=self.location.prefix,
                **({"ContinuationToken": token} if token else {}),
            )
            for item in page.get("Contents", []):
                name = item["Key"][len(self.location.prefix) :]
                if "/" not in name and name.endswith(".json") and not name.startswith(OPS_OWN):
                    found.append(self.slot(self._lab_of(item["Key"], name[: -len(".json")])))
            token = page.get("NextContinuationToken")
            if not token:
                return found

    def _lab_of(self, key: str, lab: str) -> str:
        if not is_lab_name(lab):
            raise BadInput(
                f"the object {shown(f's3://{self.location.bucket}/{key}', 100)} is not named like a "
                "lab's record (PREFIX/LAB.json, with LAB a lab name).",
                "Only ops writes under that prefix: move that object elsewhere, or, if it is a lab's "
                "record, name it after the lab ('lab' in it).",
            )
        return lab

    def ensure_bucket(self) -> None:
        """Dry runs only: the simulated account gets the bucket the team's account would have."""
        from botocore.exceptions import ClientError  # HeadBucket's 404 has no body, so no modeled error

        try:
            self.client.head_bucket(Bucket=self.location.bucket)
        except ClientError as exc:
            if error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise
            self.client.create_bucket(Bucket=self.location.bucket)

    def call(self, doing: str, operation, expected=(), **kwargs):
        """One S3 call (retried when transient). Errors whose code is `expected` come back as
        they are; a missing or denied bucket is bad input; anything else StateUnavailable."""
        try:
            return self.aws.call(operation, **kwargs)
        except Exception as exc:  # noqa: BLE001 - any failure is StateUnavailable: a run then keeps its record locally
            if error_code(exc) in expected:
                raise
            raise self.explain(exc, doing) from exc

    def get(self, key: str, doing: str) -> Tuple[Optional[bytes], Revision]:
        """(body, ETag) of key, or (None, None) when there is no such key."""
        client = self.client
        try:
            answer = self.call(doing, client.get_object, expected=("NoSuchKey",), Bucket=self.location.bucket, Key=key)
        except client.exceptions.NoSuchKey:
            return None, None
        return answer["Body"].read(), answer["ETag"]

    def put(self, key: str, body: bytes, condition: Dict[str, str], doing: str) -> Optional[str]:
        """A conditional put (IfMatch / IfNoneMatch): the new ETag, or None if S3 refused the condition
        (including If-Match on a key deleted meanwhile: 404 NoSuchKey)."""
        from botocore.exceptions import ClientError

        try:
            answer = self.call(
                doing,
                self.client.put_object,
                expected=REFUSED_WRITE + ("NoSuchKey",),
                Bucket=self.location.bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
                **condition,
            )
        except ClientError:  # only the expected codes come back unexplained (S3 models none of REFUSED_WRITE)
            return None
        return answer["ETag"]

    def delete(self, key: str, etag: Revision, doing: str) -> bool:
        """Delete key if it still has this ETag (any, when None); False if it changed. Gone is fine."""
        from botocore.exceptions import ClientError

        try:
            self.call(
                doing,
                self.client.delete_object,
                expected=REFUSED_WRITE + ("NoSuchKey",),
                Bucket=self.location.bucket,
                Key=key,
                **({"IfMatch": etag} if etag else {}),
            )
        except ClientError as exc:  # a refused condition, or a key already gone (the expected codes)
            return error_code(exc) not in REFUSED_WRITE
        return True

    def explain(self, exc: BaseException, doing: str) -> OpsError:
        code, url, bucket = error_code(exc), self.location.url, self.location.bucket
        if code in ("NoSuchBucket", "404"):
            return BadInput(
                f"the state bucket '{bucket}' does not exist (or these credentials cannot see it).",
                f"Create it (aws s3 mb s3://{bucket}) or fix --state / 'state:' in the config; nothing was changed.",
            )
        if code in ("AccessDenied", "403", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return BadInput(
                f"S3 refused to let these credentials {doing} {url} ({code}).",
                f"Grant s3:GetObject, s3:PutObject and s3:DeleteObject on arn:aws:s3:::{bucket}/"
                f"{self.location.prefix}* and s3:ListBucket on arn:aws:s3:::{bucket}.",
            )
        if is_transient(exc) or not code:
            return StateUnavailable(
                f"S3 could not be reached to {doing} {url} ({error_message(exc)}).", "Check the network and try again."
            )
        return StateUnavailable(
            f"S3 answered {code} when asked to {doing} {url}: {error_message(exc)}.", "Check the bucket and its policy."
        )


class S3Slot:
    remote = True

    def __init__(self, store: S3Records, lab: str):
        self.store = store
        self.lab = check_lab(lab)
        self.key = store.location.key(f"{lab}.json")

    def where(self) -> str:
        return f"s3://{self.store.location.bucket}/{self.key}"

    def read(self) -> Tuple[Optional[Dict[str, Any]], Revision]:
        body, etag = self.store.get(self.key, "read")
        if body is None:
            return None, None
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise BadInput(
                f"the record {self.where()} is not valid JSON ({exc}).",
                "Restore it from the bucket's versions, or delete it if nothing of that lab exists.",
            ) from None
        return check_record(data, self.where()), etag

    def write(self, data: Dict[str, Any], revision: Revision) -> Revision:
        condition = {"IfMatch": revision} if revision else {"IfNoneMatch": "*"}
        etag = self.store.put(self.key, json.dumps(data, indent=2, sort_keys=True).encode(), condition, "write")
        if etag is None:
            raise StaleRecord(
                f"the record {self.where()} was changed by someone else since it was read; S3 refused to overwrite it.",
                "Look at it ('ops status --state ...') before trying again.",
            )
        return etag

    def remove(self, revision: Revision) -> None:
        if not self.store.delete(self.key, revision, "delete"):
            raise StaleRecord(
                f"the record {self.where()} was changed by someone else; it was not deleted.",
                "Look at it ('ops status --state ...') first.",
            )


def fallback_slot(root: Path, dry_run: bool, lab: str, run_id: str) -> LocalSlot:
    """Where a lab's record goes when its shared store fails: its usual local file, unless that
    holds another run's live resources."""
    slot = LocalRecords(root, dry_run).slot(lab)
    data, _ = slot.read()
    if (
        data
        and data.get("run_id") != run_id
        and any(r.get("status") in ("intent", "created", "adopted") for r in data.get("resources", []))
    ):
        return LocalSlot(inside(slot.path.parent, f"{lab}.{run_id}.json"), slot.store)
    return slot
