"""Answers as AWS puts them on the wire: what the simulator's fakes, overlays and faults send
back to botocore, in each service's own protocol (EC2 and query XML, JSON, REST-JSON).

Botocore then parses them as it parses AWS's, inside its retry loop, so its retry mode sees a
throttle or a 500 from the simulator exactly as it would from AWS, and modelled exception
classes, waiters and response metadata all work. moto's response serializer (the one its own
services answer with) writes the bodies from botocore's service models.

A fake's successful answer skips the bytes: its body carries the answer itself, and the
session's parser (AnswerReadingParsers) hands botocore what parsing the serialized answer
would give, worked out from the output shape directly. Writing XML with moto's serializer
and reading it back with botocore's parser was half the cost of a poll, and fakes answer most
of a dry run's calls (its polls). Whatever that shortcut cannot vouch for (a value of another
type than its shape's, a control character or an empty structure in XML, a map, a blob, a
member carried in a header) goes through the bytes as before; tests/sim/test_wire.py checks
both ways agree on every answer of whole dry runs.
"""

import datetime
import re
import warnings
from functools import lru_cache
from typing import Any, Dict

from botocore.awsrequest import AWSResponse, HeadersDict
from botocore.parsers import ResponseParserFactory, create_parser
from moto.core.botocore_stubber import MockRawResponse
from moto.core.serialize import TimestampSerializer, get_serializer_class
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


class _CarriedAnswer(bytes):
    """An empty body that carries a fake's answer and its operation to the session's parser."""

    answer: Dict[str, Any]
    model: Any


@lru_cache(maxsize=None)
def _empty_answer(model) -> Dict[str, Any]:
    """The operation's answer with nothing in it, serialized: its status and headers are every
    answer's (for an output with no member in a header), and parsing it gives the metadata."""
    return _serializer(model).serialize({})


def answer(model, url: str, parsed: Dict[str, Any]) -> AWSResponse:
    """A successful answer to `model`'s operation carrying `parsed` (botocore's shape of it)."""
    parsed = {key: value for key, value in parsed.items() if key != "ResponseMetadata"}
    if model.has_streaming_output or model.has_event_stream_output:
        serialized = _serializer(model).serialize(parsed)
        return _response(url, serialized, serialized["status_code"])
    empty = _empty_answer(model)
    response = _response(url, empty, empty["status_code"])
    body = _CarriedAnswer()
    body.answer, body.model = parsed, model
    response._content = body  # what botocore reads as the body; nothing reads the raw stream
    return response


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


class AnswerReadingParsers(ResponseParserFactory):
    """botocore's parsers, for a session whose requests the simulator answers: each reads a
    fake's carried answer without the bytes (see the module's docstring)."""

    def create_parser(self, protocol_name):
        return _AnswerReader(super().create_parser(protocol_name), protocol_name)


class _Unsure(Exception):
    """The shortcut cannot vouch for this value: go through the bytes."""


# what an XML document cannot carry as it is: control characters (\r reads back as \n)
_XML_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_XML_PROTOCOLS = ("query", "ec2", "rest-xml")


class _AnswerReader:
    def __init__(self, parser, protocol: str):
        self._parser = parser
        self._xml = protocol in _XML_PROTOCOLS
        self._rest = protocol.startswith("rest-")

    def __getattr__(self, name):
        return getattr(self._parser, name)

    def parse(self, response, shape):
        body = response["body"]
        if type(body) is not _CarriedAnswer:
            return self._parser.parse(response, shape)
        try:
            return self.read(body, response, shape)
        except _Unsure:
            return self.parse_serialized(body, response, shape)

    def read(self, body: _CarriedAnswer, response, shape) -> Dict[str, Any]:
        """What parsing the serialized answer gives, from the answer and the shape (_Unsure
        when it cannot tell)."""
        empty = _empty_answer(body.model)
        read = {} if shape is None else _Reading(self._xml, self._parser, body.model).value(shape, body.answer)
        # the metadata (request id, status, headers) as botocore reads it off the empty answer
        metadata = self._parser.parse({**response, "body": empty["body"].encode()}, shape)
        if metadata.keys() - {"ResponseMetadata"}:
            raise _Unsure  # the empty answer says something: members outside the body
        if "ResponseMetadata" not in metadata:
            return read
        if self._rest:  # botocore's REST parsers put the metadata first
            return {"ResponseMetadata": metadata["ResponseMetadata"], **read}
        read["ResponseMetadata"] = metadata["ResponseMetadata"]
        return read

    def parse_serialized(self, body: _CarriedAnswer, response, shape) -> Dict[str, Any]:
        """The answer serialized by moto and parsed by botocore: the way every answer went."""
        serialized = _serializer(body.model).serialize(body.answer)
        headers = {**serialized["headers"], "x-amzn-RequestId": response["headers"]["x-amzn-RequestId"]}
        wire = {**response, "headers": HeadersDict(headers), "status_code": serialized["status_code"]}
        return self._parser.parse({**wire, "body": serialized["body"].encode()}, shape)


class _Reading:
    def __init__(self, xml: bool, parser, model):
        self.xml = xml
        self.parse_timestamp = parser._timestamp_parser
        service = model.service_model
        self.timestamp_format = get_serializer_class(service.service_name, service.protocol).DEFAULT_TIMESTAMP_FORMAT

    def value(self, shape, value: Any) -> Any:
        kind = shape.type_name
        if kind == "structure":
            if type(value) is not dict or shape.is_document_type:
                raise _Unsure
            read = {}
            for name, member in shape.members.items():
                item = value.get(name)
                if item is not None:
                    if "location" in member.serialization:
                        raise _Unsure  # a header, a status code: not in the body
                    read[name] = self.value(member, item)
            return read
        if kind == "list":
            if type(value) is not list or (self.xml and shape.serialization.get("flattened")):
                raise _Unsure
            items = [self.value(shape.member, item) for item in value]
            if self.xml and {} in items:
                raise _Unsure  # XML drops an empty structure from a list
            return items
        if kind == "string":
            if type(value) is not str or (self.xml and _XML_UNSAFE.search(value)):
                raise _Unsure
            return value
        if kind == "timestamp":
            if not isinstance(value, datetime.datetime):
                raise _Unsure
            return self.parse_timestamp(self._timestamp_on_the_wire(shape, value))
        if type(value) is _SCALARS.get(kind, _Unsure):
            return value
        raise _Unsure  # maps, blobs, and numbers or booleans of another type

    def _timestamp_on_the_wire(self, shape, value: datetime.datetime):
        fmt = shape.serialization.get("timestampFormat", self.timestamp_format)
        return _TIMESTAMPS._convert_timestamp_to_str(value, fmt)  # a str, or an int or float in JSON


_SCALARS: Dict[str, Any] = {"integer": int, "long": int, "boolean": bool, "float": float, "double": float}
_TIMESTAMPS = TimestampSerializer(TimestampSerializer.TIMESTAMP_FORMAT_ISO8601)
