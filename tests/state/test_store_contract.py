"""The rest of the Store contract, on both backends: holds and rollbacks, retries,
the notification outbox and deliveries, write-backs, polls, and two writers at once."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from syncer import errors, state
from syncer.state import records


def test_pin_rollback_rejects_pins_and_opens_a_rollout_in_one_step(store: state.Store) -> None:
    ro = store.begin_rollout(app="web", release_id="new1", clusters=["a"], cause="new")
    store.set_target(ro.targets[0].id, state=records.HEALTHY)
    held = store.pin_rollback(
        app="web", stage="", release_id="old1", clusters=["a"], leaving=["new1"], by="alice",
        message="rollback to old1 by alice",
    )  # fmt: skip
    assert (held.kind, held.release_id, held.by) == (records.PIN, "old1", "alice")
    assert store.rejected("web") == {"new1": "rolled back by alice"}
    (pin,) = store.holds("web")
    assert pin.release_id == "old1" and pin.reason == "rollback"
    (open_ro,) = store.open_rollouts("web")
    assert (open_ro.release_id, open_ro.cause) == ("old1", "rollback")
    kinds = [e.kind for e in store.history("web")]
    assert kinds[:3] == ["rollout", "pin", "rollback"]
    lifted = store.release_holds(app="web", stage=None, by="bob")
    assert [h.kind for h in lifted] == [records.PIN] and store.holds("web") == []
    assert store.history("web")[0].message.startswith("resumed by bob: no longer pinned")


def test_holds_replace_their_kind_and_lift_per_stage(store: state.Store) -> None:
    store.hold(app="web", stage="", kind=records.SUSPEND, by="alice", reason="freeze")
    store.hold(app="web", stage="prod", kind=records.SUSPEND, by="bob")
    store.hold(app="web", stage="prod", kind=records.SUSPEND, by="carol")
    assert [(h.stage, h.by) for h in store.holds("web")] == [("", "alice"), ("prod", "carol")]
    assert store.release_holds(app="web", stage="qa", by="x") == []
    (lifted,) = store.release_holds(app="web", stage="prod", by="dave")
    assert lifted.by == "carol"
    assert [h.stage for h in store.holds("web")] == [""]
    with pytest.raises(ValueError, match="unknown hold"):
        store.hold(app="web", stage="", kind="freeze", by="x")


def test_roll_back_marks_unhealthy_rejects_and_opens_the_way_back(store: state.Store) -> None:
    good = store.begin_rollout(app="web", release_id="good", clusters=["a"], cause="new")
    store.set_target(good.targets[0].id, state=records.HEALTHY)
    bad = store.begin_rollout(app="web", release_id="bad", clusters=["a"], cause="new")
    store.set_target(bad.targets[0].id, state=records.APPLIED)
    back = store.roll_back(target_id=bad.targets[0].id, to_release="good", reason="unhealthy")
    assert (back.release_id, back.cause) == ("good", "rollback")
    assert store.rejected("web") == {"bad": "unhealthy"}
    (failed,) = store.targets_of_release("web", "bad")
    assert failed.state == records.UNHEALTHY
    (deployed,) = store.deployments("web")
    assert (deployed.release_id, deployed.healthy, deployed.last_healthy_release) == (
        "bad", False, "good",
    )  # fmt: skip
    with pytest.raises(errors.PermanentError, match="no rollout target"):
        store.set_target(back.targets[0].id + 10_000, state=records.HEALTHY)


def test_a_release_rolled_back_on_a_second_cluster_keeps_its_first_reason(
    store: state.Store,
) -> None:
    good = store.begin_rollout(app="web", release_id="good", clusters=["a", "b"], cause="new")
    for target in good.targets:
        store.set_target(target.id, state=records.HEALTHY)
    bad = store.begin_rollout(app="web", release_id="bad", clusters=["a", "b"], cause="new")
    first, second = (f"{records.AUTO_REJECTED}{c}: Deployment web/web: timed out" for c in "ab")
    store.roll_back(target_id=bad.targets[0].id, to_release="good", reason=first)
    store.roll_back(target_id=bad.targets[1].id, to_release="good", reason=second)
    assert store.rejected("web") == {"bad": first}
    assert {t.state for t in store.targets_of_release("web", "bad")} == {records.UNHEALTHY}
    # A release rejected by hand first is then known for being unhealthy.
    store.reject(app="web", release_id="other", reason="rolled back by alice")
    other = store.begin_rollout(app="web", release_id="other", clusters=["a"], cause="new")
    store.roll_back(target_id=other.targets[0].id, to_release="good", reason=first)
    assert store.rejected("web")["other"] == first


def test_retry_reopens_failed_targets_in_their_own_rollout_once(store: state.Store) -> None:
    ro = store.begin_rollout(app="web", release_id="r1", clusters=["a", "b"], cause="new")
    store.set_target(ro.targets[0].id, state=records.FAILED, message="gave up")
    store.set_target(ro.targets[1].id, state=records.HEALTHY)
    assert store.open_rollouts("web") == []
    assert store.retry_targets(app="web", release_id="r1", clusters=["a", "b"], reason="x") == ["a"]
    (again,) = store.open_rollouts("web")
    assert again.id == ro.id and again.finished_at is None
    assert [e.kind for e in store.history("web")].count("retry") == 1


def test_record_once_and_keys(store: state.Store) -> None:
    assert store.record(app="web", kind="error", message="down", cluster="a", once=True)
    assert not store.record(app="web", kind="error", message="down", cluster="a", once=True)
    assert store.record(app="web", kind="error", message="down", cluster="b", once=True)
    assert store.record(app="web", kind="note", message="n", key="k1")
    assert not store.record(app="web", kind="note", message="again", key="k1")
    assert [e.message for e in store.history("web")] == ["n", "down", "down"]


def test_outbox_is_routed_once_into_deliveries(store: state.Store) -> None:
    store.record(app="web", kind="healthy", message="ok", cluster="a")
    store.record(app="api", kind="error", message="boom")

    def route(event: records.Event) -> list[records.NewDelivery]:
        return [records.NewDelivery(id=f"{event.app}-{event.id}-slack", provider="slack")]

    routed = store.route_events(route=route, limit=10, max_pending=100)
    assert routed.events == 2 and len(routed.queued) == 2 and routed.dropped == []
    assert store.route_events(route=route, limit=10, max_pending=100).events == 0
    due = store.due_deliveries(now=1e12, limit=10)
    assert {d.event.message for d in due} == {"ok", "boom"}
    assert store.next_delivery_at() is not None
    first, second = due
    store.finish_delivery(first.id, state=records.PENDING_DELIVERY, error="503", next_at=1e13)
    store.finish_delivery(second.id, state=records.DELIVERED)
    assert [d.id for d in store.due_deliveries(now=1e12, limit=10)] == []
    by_id = {d.id: d for d in store.deliveries()}
    assert (by_id[first.id].attempts, by_id[first.id].last_error) == (1, "503")
    assert by_id[second.id].state == records.DELIVERED and by_id[second.id].done_at
    assert store.next_delivery_at() == 1e13


def test_due_deliveries_leave_out_the_providers_being_sent_to(store: state.Store) -> None:
    for n in range(3):
        store.record(app="web", kind="x", message=str(n))

    def route(event: records.Event) -> list[records.NewDelivery]:
        return [
            records.NewDelivery(id=f"{event.id}-{p}", provider=p) for p in ("slow", "chat", "hook")
        ]

    store.route_events(route=route, limit=10, max_pending=100)
    # The oldest due are the slow receiver's: left out, the others' come first.
    due = store.due_deliveries(now=1e12, limit=2, skip={"slow"})
    assert sorted((d.provider, d.event.message) for d in due) == [("chat", "0"), ("hook", "0")]
    assert {d.provider for d in store.due_deliveries(now=1e12, limit=10, skip=())} == {
        "slow", "chat", "hook",
    }  # fmt: skip
    left = store.due_deliveries(now=1e12, limit=10, skip=["slow", "chat"])
    assert [(d.provider, d.event.message) for d in left] == [("hook", "0"), ("hook", "1"),
                                                              ("hook", "2")]  # fmt: skip


def test_a_full_queue_drops_deliveries(store: state.Store) -> None:
    for n in range(3):
        store.record(app="web", kind="x", message=str(n))
    routed = store.route_events(
        route=lambda e: [records.NewDelivery(id=f"d{e.id}", provider="p")], limit=10,
        max_pending=2,
    )  # fmt: skip
    assert (routed.events, len(routed.queued), len(routed.dropped)) == (3, 2, 1)


def test_polls_write_backs_and_inventories(store: state.Store) -> None:
    assert store.seen_image("reg/web", "semver") is None
    store.set_seen_image(repository="reg/web", policy="semver", tag="1.0", digest="sha256:1")
    store.set_seen_image(repository="reg/web", policy="semver", tag="1.1", digest="sha256:2")
    seen = store.seen_image("reg/web", "semver")
    assert seen is not None and (seen.tag, seen.digest) == ("1.1", "sha256:2")
    store.set_git_head(source="deploy", ref="main", commit="c1")
    assert store.git_head("deploy", "main") == "c1" and store.git_head("deploy", "dev") is None
    assert store.write_back("web") is None
    store.set_write_back(app="web", images=["b", "a"], branch="main", commit="abc")
    wb = store.write_back("web")
    assert wb is not None and (wb.images, wb.commit) == (("a", "b"), "abc")
    store.set_inventory(app="web", cluster="a", objects=["v1/Service/web/web"])
    store.set_inventory(app="gone", cluster="a", objects=[])
    assert store.inventories() == {"web": {"a": ["v1/Service/web/web"]}}


def test_two_writers_starting_the_same_rollout_make_one(
    open_store: Callable[[], state.Store],
) -> None:
    """Two handles (as two processes) race to record the same intent: one rollout,
    one history entry, however the writes interleave."""
    writers = [open_store() for _ in range(4)]
    barrier = threading.Barrier(len(writers))
    got: list[int] = []

    def begin(s: state.Store) -> None:
        barrier.wait()
        got.append(s.begin_rollout(app="web", release_id="r1", clusters=["a"], cause="new").id)

    threads = [threading.Thread(target=begin, args=(s,)) for s in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == len(writers) and len(set(got)) == 1
    assert len(writers[0].rollouts("web")) == 1
    assert [e.kind for e in writers[0].history("web")] == ["rollout"]


def test_two_writers_counting_lose_no_update(open_store: Callable[[], state.Store]) -> None:
    writers = [open_store() for _ in range(3)]
    failed: list[BaseException] = []

    def work(s: state.Store) -> None:
        try:
            for _ in range(10):
                s.set_error(app="web", stage="apply", message="down")
        except BaseException as err:  # a thread's exception would otherwise go unseen
            failed.append(err)

    threads = [threading.Thread(target=work, args=(s,)) for s in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failed == []
    (err,) = writers[0].errors("web")
    assert err.count == 30


def test_a_read_round_sees_its_own_writes_and_then_others(
    open_store: Callable[[], state.Store],
) -> None:
    mine, other = open_store(), open_store()
    mine.record(app="web", kind="note", message="one")
    with mine.reading("web"):
        assert [e.message for e in mine.history("web")] == ["one"]
        mine.record(app="web", kind="note", message="two")  # its own write: seen at once
        assert [e.message for e in mine.history("web")] == ["two", "one"]
        mine.set_error(app="web", stage="apply", message="down")
        assert [e.message for e in mine.errors("web")] == ["down"]
    other.record(app="web", kind="note", message="three")
    with mine.reading("web"):  # a new round reads afresh
        assert [e.message for e in mine.history("web")] == ["three", "two", "one"]
