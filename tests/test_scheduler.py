"""ops/engine/scheduler.py on a virtual clock: the pool and the dependency-graph scheduler.

Each test runs its body on a thread of its own and fails if that does not end within a few
real seconds: a clock whose count of tasks went wrong does not fail, it stands still.
"""

import threading

import pytest

from ops.clock import VirtualClock
from ops.engine.scheduler import DONE, Pool, run_each, run_graph


def within(seconds, body):
    """Run body() on a thread; re-raise what it raised; fail if it has not ended in time."""
    outcome = {}

    def target():
        try:
            outcome["result"] = body()
        except BaseException as exc:  # noqa: BLE001 - re-raised below, on the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} real seconds: the clock stands still"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result")


class Log:
    """What tasks did, at which simulated instant, on which thread."""

    def __init__(self, clock):
        self.clock = clock
        self.lines = []
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0

    def add(self, *what):
        with self.lock:
            self.lines.append((self.clock.now(), *what))

    def task(self, name, seconds):
        def run():
            with self.lock:
                self.running += 1
                self.most = max(self.most, self.running)
            self.add("start", name, threading.current_thread().name)
            self.clock.sleep(seconds)
            self.add("end", name)
            with self.lock:
                self.running -= 1

        return run

    def at(self, event, name):
        return next(line[0] for line in self.lines if line[1:3] == (event, name))


# the pool


def test_tasks_that_sleep_run_at_once_so_time_is_the_longest_not_the_sum():
    def body():
        clock = VirtualClock()
        log = Log(clock)
        pool = Pool(clock)
        for name, seconds in [("a", 10), ("b", 30), ("c", 20)]:
            pool.start(f"task-{name}", log.task(name, seconds))
        pool.join()
        assert clock.now() == 30
        assert [log.at("start", name) for name in "abc"] == [0, 0, 0]
        assert [log.at("end", name) for name in "abc"] == [10, 30, 20]
        assert {line[3] for line in log.lines if line[1] == "start"} == {"task-a", "task-b", "task-c"}

    within(10, body)


def test_a_limit_of_two_over_five_ten_second_tasks_takes_thirty_seconds():
    def body():
        clock = VirtualClock()
        log = Log(clock)
        pool = Pool(clock, limit=2)
        for index in range(5):
            pool.start(f"task-{index}", log.task(index, 10))
        pool.join()
        assert clock.now() == 30
        assert log.most == 2
        assert sorted(log.at("start", index) for index in range(5)) == [0, 0, 10, 10, 20]

    within(10, body)


def test_a_freed_slot_goes_to_the_next_task_at_that_instant_even_while_others_sleep_long():
    # the second task sleeps until 100: if time could move between the first task ending and
    # the third one starting, the third would start at 100
    def body():
        clock = VirtualClock()
        log = Log(clock)
        pool = Pool(clock, limit=2)
        for name, seconds in [("short", 10), ("long", 100), ("next", 10)]:
            pool.start(name, log.task(name, seconds))
        pool.join()
        assert log.at("start", "next") == 10 and log.at("end", "next") == 20
        assert clock.now() == 100

    for _ in range(20):  # a race shows itself only some of the time
        within(10, body)


def test_a_raising_task_is_raised_by_join_after_the_others_end_and_the_clock_still_works():
    def body():
        clock = VirtualClock()
        log = Log(clock)
        pool = Pool(clock, limit=2)

        def boom():
            clock.sleep(3)
            raise ValueError("boom")

        pool.start("boom", boom)
        pool.start("slow", log.task("slow", 20))
        pool.start("after", log.task("after", 1))  # waits for a slot: the failure frees one
        with pytest.raises(ValueError, match="boom"):
            pool.join()
        assert clock.now() == 20 and log.at("end", "slow") == 20 and log.at("start", "after") == 3
        clock.sleep(5)
        assert clock.now() == 25

    within(10, body)


def test_the_first_exception_is_raised_and_base_exceptions_are_not_swallowed():
    def body():
        clock = VirtualClock()
        pool = Pool(clock)

        def interrupt():
            clock.sleep(1)
            raise KeyboardInterrupt

        def later():
            clock.sleep(2)
            raise ValueError("later")

        pool.start("later", later)
        pool.start("interrupt", interrupt)
        with pytest.raises(KeyboardInterrupt):
            pool.join()
        assert clock.now() == 2
        clock.sleep(1)
        assert clock.now() == 3

    within(10, body)


def test_run_each_runs_one_item_on_this_thread_and_several_on_named_threads():
    def body():
        clock = VirtualClock()
        seen = []
        run_each(clock, ["only"], lambda item: seen.append((item, threading.current_thread())), name=str)
        assert seen == [("only", threading.current_thread())]
        seen.clear()
        run_each(
            clock,
            ["a", "b", "c"],
            lambda item: (clock.sleep(10), seen.append((item, threading.current_thread().name))),
            name=lambda item: f"lab-{item}",
            limit=2,
        )
        assert sorted(seen) == [("a", "lab-a"), ("b", "lab-b"), ("c", "lab-c")] and clock.now() == 20
        with pytest.raises(ZeroDivisionError):
            run_each(clock, [1, 0], lambda item: 1 / item, name=str)
        clock.sleep(1)
        assert clock.now() == 21

    within(10, body)


# the dependency graph


def needs(graph):
    """ready(): every node in graph[node] has posted one of the phases given for it."""
    return lambda node, phases: all(phases.get(other) in wanted for other, wanted in graph.get(node, {}).items())


def test_a_node_starts_at_the_instant_its_dependency_posted_created():
    def body():
        clock = VirtualClock()
        log = []

        def work(node, post):
            log.append((clock.now(), "start", node, threading.current_thread().name))
            if node == "cluster":
                clock.sleep(10)
                post("created")
                clock.sleep(50)  # still creating: no one else is awake, so time would jump here
            else:
                clock.sleep(5)
            return node.upper()

        results = run_graph(
            clock,
            ["cluster", "rule", "ping"],
            work,
            needs({"rule": {"cluster": ("created", DONE)}, "ping": {"cluster": (DONE,), "rule": (DONE,)}}),
            thread_prefix="step-",
        )
        starts = {line[2]: line[0] for line in log}
        assert starts == {"cluster": 0, "rule": 10, "ping": 60}
        assert {line[3] for line in log} == {"step-cluster", "step-rule", "step-ping"}
        assert clock.now() == 65
        assert list(results.items()) == [("rule", "RULE"), ("cluster", "CLUSTER"), ("ping", "PING")]

    within(10, body)


def test_after_a_failure_nothing_new_starts_running_nodes_finish_and_the_first_failure_is_raised():
    def body():
        clock = VirtualClock()
        started, ended = [], []

        def work(node, post):
            started.append(node)
            clock.sleep({"fails": 5, "slow": 20, "first": 10, "second": 1}[node])
            ended.append((clock.now(), node))
            if node == "fails":
                raise ValueError("the first failure")
            if node == "slow":
                raise ValueError("a later failure")

        with pytest.raises(ValueError, match="the first failure"):
            run_graph(clock, ["fails", "slow", "first", "second"], work, needs({"second": {"first": (DONE,)}}))
        # "second" became ready at 10, after the failure at 5: it never started
        assert sorted(started) == ["fails", "first", "slow"]
        assert ended == [(5, "fails"), (10, "first"), (20, "slow")] and clock.now() == 20
        clock.sleep(5)
        assert clock.now() == 25

    within(10, body)


def test_a_stop_reason_starts_nothing_new_and_is_what_is_raised():
    def body():
        clock = VirtualClock()
        stop = threading.Event()
        started = []

        def work(node, post):
            started.append((clock.now(), node))
            if node == "a":
                clock.sleep(5)
                stop.set()
                post("created")  # makes b ready, but the stop comes first
                clock.sleep(5)
            return node

        with pytest.raises(KeyError, match="stopped"):
            run_graph(
                clock,
                ["a", "b"],
                work,
                needs({"b": {"a": ("created", DONE)}}),
                stop=lambda: KeyError("stopped") if stop.is_set() else None,
            )
        assert started == [(0, "a")] and clock.now() == 10

    within(10, body)


def test_ready_sees_each_started_nodes_latest_phase():
    def body():
        clock = VirtualClock()
        seen = []

        def ready(node, phases):
            if node == "b":
                seen.append(dict(phases))
            return node == "a" or phases.get("a") == DONE

        def work(node, post):
            if node == "a":
                post("created")
                clock.sleep(1)

        run_graph(clock, ["a", "b"], work, ready)
        assert seen == [{}, {"a": "created"}, {"a": DONE}]

    within(10, body)


def test_a_graph_that_can_never_start_a_node_says_so_instead_of_hanging():
    def body():
        clock = VirtualClock()
        with pytest.raises(RuntimeError, match="nothing can start: b"):
            run_graph(clock, ["a", "b"], lambda node, post: None, needs({"b": {"missing": (DONE,)}}))
        clock.sleep(1)
        assert clock.now() == 1

    within(10, body)


def test_a_graph_of_no_nodes_returns_at_once():
    def body():
        clock = VirtualClock()
        assert run_graph(clock, [], lambda node, post: None, lambda node, phases: True) == {}
        clock.sleep(1)
        assert clock.now() == 1

    within(10, body)
