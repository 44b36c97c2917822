"""What ElastiCache's API says of any of its resources: the errors they share, its identifiers'
rule and its listings' pages (elasticache.py's clusters and replication groups,
cache_subnet_groups.py's subnet groups)."""

import re

from .base import SimError

ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


class ElastiCacheError(SimError):
    pass


class InvalidParameterValue(ElastiCacheError):
    code = "InvalidParameterValue"


class InvalidParameterCombination(ElastiCacheError):
    code = "InvalidParameterCombination"


class TagNotFound(ElastiCacheError):
    code, status = "TagNotFound", 404


class TagQuotaPerResourceExceeded(ElastiCacheError):
    code = "TagQuotaPerResourceExceeded"


class InvalidARN(ElastiCacheError):
    code = "InvalidARN"

    def __init__(self, arn):
        super().__init__(f"ARN {arn} is invalid.")


TAGS_PER_RESOURCE = 50  # the model: "The maximum number of tags permitted on a resource is 50."


def check_tag_count(tags: dict) -> dict:
    if len(tags) > TAGS_PER_RESOURCE:
        raise TagQuotaPerResourceExceeded(
            f"The request cannot be processed because it would cause the resource to have more than "
            f"the allowed number of tags. The maximum number of tags permitted on a resource is {TAGS_PER_RESOURCE}."
        )
    return tags


def valid_id(value: str, parameter: str, longest: int = 40) -> str:
    """An identifier as ElastiCache stores it (lowercase), or InvalidParameterValue."""
    value = value.lower()
    if not (1 <= len(value) <= longest and ID.match(value)):
        raise InvalidParameterValue(
            f"The parameter {parameter} is not a valid identifier. Identifiers must begin with a letter; "
            "must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or "
            "contain two consecutive hyphens."
        )
    return value


def page(items, params):
    """A page of a listing, in id order: MaxRecords (20 to 100, 100 when not given) after the
    Marker, which is the id the previous page ended on, so a cluster created or deleted
    between two pages never shifts another off the listing."""
    size = params.get("MaxRecords")
    if size is None:
        size = 100
    elif not 20 <= size <= 100:
        raise InvalidParameterValue(f"Invalid value {size} for MaxRecords. Must be between 20 and 100")
    after = params.get("Marker")
    ordered = sorted(items, key=lambda item: item["id"])
    if after is not None:
        if not ID.match(after):
            raise InvalidParameterValue(f"Invalid marker: {after}")
        ordered = [item for item in ordered if item["id"] > after]
    chosen = ordered[:size]
    return chosen, chosen[-1]["id"] if len(ordered) > size else None
