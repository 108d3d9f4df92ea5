"""Parsed YAML kept by its text (``yamlload``): a text read again gives the documents
the parser gave, as objects of the caller's own; errors and limits are judged every
time; what JSON cannot carry is parsed again; the bytes kept are bounded."""

from __future__ import annotations

import math

import pytest

from syncer.render import errors, yamlload

MANIFESTS = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: a, labels: {app: web, tier: "1"}}
data: {enabled: y, when: 2026-12-05T10:00:00Z, colon: 1:20, equals: =}
---
# an empty document is skipped, and still counted
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: &labels {app: web}}
spec:
  replicas: 0x10
  template:
    metadata: {labels: *labels}
    spec:
      containers:
      - name: main
        args: [1e3, 0o17, 1_000, .inf, -.inf, 18446744073709551616, -0.0, ~, "ü ☃"]
"""


def read(text: str, *, max_nodes: int = 1000) -> list[yamlload.Document]:
    return yamlload.load_all(text, shown="m.yaml", max_nodes=max_nodes)


def test_a_text_read_again_gives_the_same_documents_as_objects_of_its_own() -> None:
    first = read(MANIFESTS)
    again = read(MANIFESTS)
    assert [(d.index, d.line) for d in again] == [(0, 1), (2, 8)]
    assert again == first
    args = again[1].data["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:5] == [1000.0, 15, 1000, math.inf, -math.inf]
    assert args[5] == 2**64 and math.copysign(1, args[6]) == -1 and args[7:] == [None, "ü ☃"]
    assert again[0].data["data"] == {
        "enabled": True, "when": "2026-12-05T10:00:00Z", "colon": "1:20", "equals": "=",
    }  # fmt: skip
    # Changing what one caller got changes nothing for the next (a render sets
    # namespaces and labels on its objects).
    again[1].data["metadata"]["labels"]["app"] = "changed"
    again[0].data["data"].clear()
    third = read(MANIFESTS)
    assert third == first and third[1].data["metadata"]["labels"]["app"] == "web"


def test_nan_reads_as_nan_every_time() -> None:
    # NaN is not equal to itself, so a text holding one is parsed each time.
    read("x: .nan\n")
    (doc,) = read("x: .nan\n")
    assert math.isnan(doc.data["x"])


def test_an_invalid_text_fails_each_time_with_its_line() -> None:
    for _ in range(2):
        with pytest.raises(errors.RenderError, match=r"m\.yaml:3: invalid YAML"):
            read("a: 1\nb: [unclosed\n")


def test_the_node_limit_is_judged_for_each_limit() -> None:
    bomb = (
        "a: &a [x, x, x, x, x, x, x, x]\n"
        "b: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: [*b, *b, *b, *b]\n"
    )
    assert read(bomb, max_nodes=1000)[0].data["c"][0][0] == ["x"] * 8
    with pytest.raises(errors.LimitError, match="alias bomb"):
        read(bomb, max_nodes=100)


def test_what_json_cannot_carry_is_parsed_again() -> None:
    text = "data: !!binary aGVsbG8=\n"
    first, again = read(text), read(text)
    assert first[0].data == again[0].data == {"data": b"hello"}


def test_the_bytes_kept_are_bounded_and_the_oldest_go_first() -> None:
    kept = yamlload._Parsed(limit=4000)
    texts = [f"n: {i}\npad: {'x' * 300}\n" for i in range(40)]
    for text in texts:
        key = kept.key(text, scalars="kubectl", max_nodes=100)
        kept.put(key, yamlload.load_all(text, shown="t", max_nodes=100))
    assert kept._size <= 4000
    held = [t for t in texts if kept.get(kept.key(t, scalars="kubectl", max_nodes=100))]
    assert held and held == texts[-len(held) :]
    assert len(held) < len(texts)


def test_a_text_read_again_is_not_parsed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = []
    real = yamlload._parse

    def counting(text: str, **kwargs: object) -> list[yamlload.Document]:
        parsed.append(text)
        return real(text, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(yamlload, "_parse", counting)
    text = "kind: ConfigMap\nmetadata: {name: counted-once}\n"
    for _ in range(3):
        read(text)
    read(text, max_nodes=999)  # another limit: judged, so parsed, once more
    assert parsed == [text, text]
