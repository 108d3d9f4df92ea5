"""Golden files: plain YAML, kustomize overlays, a Helm chart and per-cluster paths,
rendered with the real kubectl/helm binaries, must match ``testdata/<case>/expected``."""

from __future__ import annotations

import pytest

from syncer.render import tools
from tests import binaries
from tests.render import golden


@pytest.mark.parametrize("case", golden.cases())
def test_golden_case(case):
    needs = {"kustomize-overlays": ["kubectl"], "helm-chart": ["helm"]}.get(case, [])
    found = {name: binaries.require(name) for name in needs}
    problems = golden.check(case, tool_paths=tools.Tools(**found))
    assert not problems, "\n".join(problems)


def test_every_case_has_expected_output():
    for case in golden.cases():
        assert list((golden.TESTDATA / case / "expected").glob("*.yaml")), case
