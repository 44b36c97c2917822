"""ops/sim/xml_writer.py writes what xmltodict.unparse writes, or raises what it raises."""

import pytest
import xmltodict
from hypothesis import given, settings
from hypothesis import strategies as st

from ops.sim import xml_writer

NAMES = st.sampled_from(["Item", "member", "RequestId", "a", "?bad", "b<c", "#comment"])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False),
    st.text(alphabet="ab &<>\"'\n\t\r\x7f\u00e9", max_size=6),
    st.binary(max_size=3),  # xmltodict's alone
)
ATTRIBUTES = st.dictionaries(
    st.sampled_from(["@xmlns", "@id", "@?no"]),
    st.one_of(st.none(), st.text(alphabet="a\"'&<\n", max_size=4), st.integers(0, 9)),
    max_size=2,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner),  # xmltodict's alone
        st.builds(
            lambda attributes, children, text: {**attributes, **children, **text},
            ATTRIBUTES,
            st.dictionaries(NAMES, inner, max_size=3),
            st.one_of(st.just({}), st.builds(lambda t: {"#text": t}, SCALARS)),
        ),
    ),
    max_leaves=12,
)


def written(unparse, document, **options):
    try:
        return "text", unparse(document, **options)
    except ValueError as error:
        return "refused", str(error)


@settings(max_examples=600, deadline=None)
@given(
    st.dictionaries(NAMES, VALUES, min_size=0, max_size=2),
    st.booleans(),
    st.booleans(),
)
def test_it_writes_what_xmltodict_writes_with_every_option_moto_passes(document, full_document, short):
    options = {"full_document": full_document, "short_empty_elements": short}
    assert written(xml_writer.unparse, document, **options) == written(
        xml_writer._xmltodict_unparse, document, **options
    )


def test_what_moto_writes_is_written_here_not_by_xmltodict(monkeypatch):
    def unused(*args, **kwargs):
        raise AssertionError("xmltodict was asked")

    monkeypatch.setattr(xml_writer, "_xmltodict_unparse", unused)
    answer = {
        "DescribeThingsResponse": {
            "@xmlns": "http://example.com/doc/",
            "DescribeThingsResult": {"Things": {"member": [{"Name": "a&b", "Count": 2, "On": True}, {}]}, "Empty": ""},
            "ResponseMetadata": {"RequestId": "request-id"},
        }
    }
    assert xml_writer.unparse(answer, full_document=False, short_empty_elements=True) == (
        '<DescribeThingsResponse xmlns="http://example.com/doc/"><DescribeThingsResult><Things>'
        "<member><Name>a&amp;b</Name><Count>2</Count><On>true</On></member><member/></Things><Empty/>"
        "</DescribeThingsResult><ResponseMetadata><RequestId>request-id</RequestId></ResponseMetadata>"
        "</DescribeThingsResponse>"
    )


@pytest.mark.parametrize("options", [{"pretty": True}, {"comment_key": "#note"}])
def test_other_options_are_xmltodict_s(options):
    document = {"a": {"b": "1"}}
    assert xml_writer.unparse(document, **options) == xmltodict.unparse(document, **options)
