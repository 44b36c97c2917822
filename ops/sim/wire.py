"""Answers as AWS puts them on the wire: what the simulator's fakes, overlays and faults send
back to botocore, in each service's own protocol (EC2 and query XML, JSON, REST-JSON).

Botocore then parses them as it parses AWS's, inside its retry loop, so its retry mode sees a
throttle or a 500 from the simulator exactly as it would from AWS, and modelled exception
classes, waiters and response metadata all work. moto's response serializer (the one its own
services answer with) writes the bodies from botocore's service models.
"""

import warnings
from functools import lru_cache
from typing import Any, Dict

from botocore.awsrequest import AWSResponse
from botocore.parsers import create_parser
from moto.core.botocore_stubber import MockRawResponse
from moto.core.serialize import get_serializer_class
from moto.core.utils import get_service_model

from .base import request_id

# moto warns when an error code is not among a service's modelled errors; throttling and
# server errors never are (they are common to every service), nor are some of AWS's own.
warnings.filterwarnings("ignore", message=r"Exception\(WireError\) with code", category=UserWarning)


class WireError(Exception):
    """What moto's serializer reads an error from: its code and message."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@lru_cache(maxsize=None)
def _operation(service_name: str, operation: str):
    """moto's view of an operation's model (its serializer needs moto's shape classes)."""
    return get_service_model(service_name).operation_model(operation)


def _serializer(model):
    service = model.service_model
    operation = _operation(service.service_name, model.name)
    return get_serializer_class(service.service_name, service.protocol)(operation)


def _response(url: str, serialized: Dict[str, Any], status: int) -> AWSResponse:
    body = serialized["body"]
    headers = {**serialized["headers"], "x-amzn-RequestId": request_id()}
    return AWSResponse(url, status, headers, MockRawResponse(body))


def answer(model, url: str, parsed: Dict[str, Any]) -> AWSResponse:
    """A successful answer to `model`'s operation carrying `parsed` (botocore's shape of it)."""
    parsed = {key: value for key, value in parsed.items() if key != "ResponseMetadata"}
    serialized = _serializer(model).serialize(parsed)
    return _response(url, serialized, serialized["status_code"])


def error(model, url: str, code: str, message: str, status: int) -> AWSResponse:
    """An error answer as the service's protocol reports one, with this HTTP status."""
    serialized = _serializer(model).serialize(WireError(code, message))
    return _response(url, serialized, status)


def parse(model, response: AWSResponse) -> Dict[str, Any]:
    """botocore's reading of an answer (what a client would return, or its error)."""
    parser = create_parser(model.service_model.resolved_protocol)
    response_dict = {
        "headers": response.headers,
        "status_code": response.status_code,
        "body": response.content,
        "context": {"operation_name": model.name},
    }
    return parser.parse(response_dict, model.output_shape)
