"""What a simulator session shares with the others (ops/sim/sessions.py): botocore's built-in
handlers copied from a template, one ServiceModel, client class and set of exception classes
per service, one cache of aliased event names; what it
keeps its own: its handlers from then on, its clients' event hooks, and every real session's
models."""

import copy
import itertools

import boto3
import botocore.exceptions
import botocore.session
import pytest
from botocore import handlers
from botocore.hooks import EVENT_ALIASES, EventAliaser, HierarchicalEmitter, _PrefixTrie
from hypothesis import given, settings
from hypothesis import strategies as st

from ops.sim.sessions import _SharingTrie, isolated_session


def handlers_of(session: boto3.Session, event: str):
    return list(session._session._events._emitter._handlers.prefix_search(event))


def named(found):
    """Handlers by module and name (boto3 makes a closure of its own per session); objects
    (moto's stubber, when imported) by class and identity."""
    return [
        (handler.__module__, handler.__qualname__) if hasattr(handler, "__qualname__") else handler for handler in found
    ]


def test_a_sim_session_has_every_handler_a_new_botocore_session_has_in_the_same_order():
    reference = boto3.Session(botocore_session=botocore.session.Session(), region_name="us-east-1")
    ours = isolated_session("us-east-1")
    events = {spec[0] for spec in handlers.BUILTIN_HANDLERS}
    for event in sorted(events | {name + ".Operation" for name in events}):  # and what they prefix
        assert named(handlers_of(ours, event)) == named(handlers_of(reference, event)), event
    assert sum(len(handlers_of(ours, event)) for event in events) >= len(handlers.BUILTIN_HANDLERS)


def test_handlers_added_to_botocore_after_the_first_session_reach_the_next_ones(monkeypatch):
    isolated_session("us-east-1")  # the template is made

    def marker(**kwargs):
        return None

    monkeypatch.setattr(handlers, "BUILTIN_HANDLERS", [*handlers.BUILTIN_HANDLERS, ("before-send", marker)])
    assert marker in handlers_of(isolated_session("us-east-1"), "before-send.ec2.RunInstances")


def test_a_handler_registered_on_one_session_stays_there():
    first, second = isolated_session("us-east-1"), isolated_session("us-east-1")

    def stash(**kwargs):
        return None

    first.events.register("before-parameter-build", stash)
    assert stash in handlers_of(first, "before-parameter-build.ec2.RunInstances")
    assert stash not in handlers_of(second, "before-parameter-build.ec2.RunInstances")


def test_sim_clients_share_their_model_and_class_but_not_their_hooks():
    one, two = isolated_session("us-east-1").client("ec2"), isolated_session("eu-west-1").client("ec2")
    assert one.meta.service_model is two.meta.service_model
    assert type(one) is type(two)
    assert one.meta.region_name == "us-east-1" and two.meta.region_name == "eu-west-1"
    assert one.meta.events is not two.meta.events

    def seen(**kwargs):
        return None

    one.meta.events.register("before-call.ec2.RunInstances", seen)
    assert seen not in list(two.meta.events._emitter._handlers.prefix_search("before-call.ec2.RunInstances"))


def test_a_client_s_handlers_are_a_copy_of_its_session_s_at_its_making():
    """The sim's quicker copy of botocore's handler trie copies as botocore's does: every
    list of every node, so that what a client or its session registers later stays its own,
    first, middle and last in their order."""
    session = isolated_session("us-east-1")
    event = "before-call.ec2.RunInstances"

    def first(**kwargs):
        return None

    def last(**kwargs):
        return None

    def late(**kwargs):
        return None

    session.events.register_first(event, first)
    one, two = session.client("ec2"), session.client("ec2")
    one.meta.events.register_last(event, last)
    session.events.register(event, late)

    def found(events):
        return list(events._emitter._handlers.prefix_search(event))

    ones = found(one.meta.events)
    assert first in ones and last in ones and ones.index(first) < ones.index(last)
    assert first in found(two.meta.events) and last not in found(two.meta.events)
    assert late in found(session.events) and last not in found(session.events)
    assert late not in found(one.meta.events) + found(two.meta.events)


def test_a_real_session_builds_its_own_model():
    sim = isolated_session("us-east-1").client("ec2")
    real = boto3.Session(region_name="us-east-1").client("ec2")
    assert real.meta.service_model is not sim.meta.service_model
    assert type(real) is not type(sim)


def test_sim_clients_share_their_exception_classes_which_botocore_still_raises():
    one, two = isolated_session("us-east-1").client("ec2"), isolated_session("eu-west-1").client("ec2")
    assert one.exceptions.ClientError is two.exceptions.ClientError
    iam = isolated_session("us-east-1").client("iam")
    assert (
        iam.exceptions.NoSuchEntityException
        is isolated_session("us-east-1").client("iam").exceptions.NoSuchEntityException
    )
    assert issubclass(iam.exceptions.NoSuchEntityException, botocore.exceptions.ClientError)


def test_event_names_are_aliased_as_botocore_aliases_them_by_every_client():
    """The shared cache gives what a fresh aliaser computes, for aliased names too."""
    names = [
        "before-call.autoscaling.CreateAutoScalingGroup",
        "before-call.apigateway.GetExport",
        "after-call.ec2.RunInstances",
        "before-send.elasticache.DescribeCacheClusters",
        "before-parameter-build.cloudsearchdomain.Search",
        "creating-client-class.s3",
    ]
    sim = isolated_session("us-east-1").client("ec2").meta.events
    for name in names:
        fresh = EventAliaser(HierarchicalEmitter(), dict(EVENT_ALIASES))
        fresh._alias_name_cache = {}  # botocore's own, unshared
        assert sim._alias_event_name(name) == _unpatched_alias(fresh, name), name
    assert any(sim._alias_event_name(name) != name for name in names)  # some were aliased
    other = EventAliaser(HierarchicalEmitter(), {"ec2": "ec2-renamed"})  # a table of its own keeps its own cache
    assert other._alias_event_name("after-call.ec2.RunInstances") == "after-call.ec2-renamed.RunInstances"
    assert sim._alias_event_name("after-call.ec2.RunInstances") == "after-call.ec2.RunInstances"


def _unpatched_alias(aliaser, name):
    return EventAliaser._alias_event_name(aliaser, name)


KEYS = [".".join(parts) for n in (1, 2, 3) for parts in itertools.product("ab*", repeat=n)]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["copy", "append", "remove"]),
            st.integers(0, 7),  # which trie of the family
            st.sampled_from(KEYS),
            st.integers(0, 3),  # the handler
            st.integers(0, 2),  # first, middle or last
        ),
        max_size=40,
    )
)
def test_sharing_tries_register_and_unregister_as_botocore_s_own_copies_do(steps):
    """Any mix of copies, registrations and unregistrations: every trie of the family finds
    what botocore's own tries (each copy a whole copy) find, for every event."""
    ours, theirs = [_SharingTrie()], [_PrefixTrie()]
    for action, which, key, handler, section in steps:
        mine, reference = ours[which % len(ours)], theirs[which % len(theirs)]
        if action == "copy":
            ours.append(copy.copy(mine))
            theirs.append(copy.copy(reference))
        elif action == "append":
            mine.append_item(key, handler, section)
            reference.append_item(key, handler, section)
        else:
            try:
                reference.remove_item(key, handler)
            except (ValueError, KeyError, AttributeError) as refused:
                with pytest.raises(type(refused)):
                    mine.remove_item(key, handler)
            else:
                mine.remove_item(key, handler)
        for one, other in zip(ours, theirs):
            for event in KEYS:
                if "*" not in event:
                    assert list(one.prefix_search(event)) == list(other.prefix_search(event)), event
