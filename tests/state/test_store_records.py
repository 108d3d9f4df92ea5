"""History, inventories, seen images and heads, errors, runs and approvals persist."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from syncer import errors, state


def test_everything_survives_reopening(open_store: Callable[[], state.Store]) -> None:
    s = open_store()
    s.record(app="web", kind="error", message="boom", cluster="a", data={"x": 1})
    s.set_inventory(app="web", cluster="a", objects=["apps/v1/Deployment/web/web", "v1/Service"])
    s.set_seen_image(repository="reg/web", policy="semver:^1", tag="1.2.0", digest="sha256:1")
    s.set_git_head(source="deploy", ref="refs/heads/main", commit="abc")
    s.set_error(app="web", cluster="a", stage="apply", message="connection refused")
    s.set_run(app="web", result="failed", message="1 cluster failed", desired_release="r1")
    s.close()

    s = open_store()
    try:
        (event,) = s.history("web")
        assert (event.kind, event.cluster, event.data) == ("error", "a", {"x": 1})
        assert s.inventory("web", "a") == ["apps/v1/Deployment/web/web", "v1/Service"]
        assert s.inventory("web", "b") is None
        seen = s.seen_image("reg/web", "semver:^1")
        assert seen is not None and (seen.tag, seen.digest) == ("1.2.0", "sha256:1")
        assert s.git_head("deploy", "refs/heads/main") == "abc"
        (err,) = s.errors("web")
        assert (err.stage, err.message, err.count) == ("apply", "connection refused", 1)
        run = s.run("web")
        assert run is not None and run.result == "failed" and run.last_success_at is None
    finally:
        s.close()


def test_errors_count_repeats_and_clear(store: state.Store) -> None:
    for _ in range(3):
        store.set_error(app="web", stage="source", message="git unreachable")
    (err,) = store.errors("web")
    assert err.count == 3
    store.clear_error(app="web")
    assert store.errors("web") == []


def test_run_keeps_last_success_across_failures(store: state.Store) -> None:
    store.set_run(app="web", result="ok", message="", desired_release="r1")
    store.set_run(app="web", result="failed", message="x", desired_release="r2")
    run = store.run("web")
    assert run is not None and run.last_success_at is not None and run.result == "failed"


def test_approval_requested_then_given_once(store: state.Store) -> None:
    store.request_approval(app="web", stage="prod", release_id="r1")
    store.request_approval(app="web", stage="prod", release_id="r1")
    assert len(store.approvals("web")) == 1
    done = store.approve(app="web", stage="prod", by="alice")
    assert done.approved_by == "alice" and done.approved_at is not None
    with pytest.raises(errors.PermanentError, match="no promotion waiting"):
        store.approve(app="web", stage="prod", by="bob")


def test_a_rejected_promotion_rejects_its_release_once_and_says_who(
    store: state.Store,
) -> None:
    store.request_approval(app="web", stage="prod", release_id="r1" * 6)
    refused = store.reject_promotion(app="web", stage="prod", release_id="r1" * 6, by="alice")
    assert refused.release_id == "r1" * 6 and refused.approved_at is None
    assert store.rejected("web") == {"r1" * 6: "promotion into prod rejected by alice"}
    (event,) = [e for e in store.history("web") if e.kind == "rejected"]
    assert event.message == "release r1r1r1r1r1r1: promotion into prod rejected by alice"
    # Only a waiting promotion can be refused: not another stage, not an approved one.
    with pytest.raises(errors.PermanentError, match="waiting for approval into stage 'dev'"):
        store.reject_promotion(app="web", stage="dev", release_id="r1" * 6, by="alice")
    store.request_approval(app="web", stage="prod", release_id="r2")
    store.approve(app="web", stage="prod", by="bob")
    with pytest.raises(errors.PermanentError):
        store.reject_promotion(app="web", stage="prod", release_id="r2", by="alice")
    assert "r2" not in store.rejected("web")


def test_history_is_trimmed_to_the_newest(store: state.Store) -> None:
    for n in range(30):
        store.record(app="web", kind="test", message=str(n))
    store.record(app="api", kind="test", message="other app")
    assert store.trim_history("web", keep=10) == 20
    assert [e.message for e in store.history("web", limit=100)] == [
        str(n) for n in range(29, 19, -1)
    ]
    assert len(store.history("api")) == 1
    assert store.trim_history("web", keep=10) == 0
