"""Rebuild the semver tables in this directory from their upstream sources.

Usage (needs node and go; not run by the tests)::

    python tests/registry/testdata/semver/regenerate.py NODE_SEMVER_CHECKOUT MASTERMINDS_CHECKOUT

Reads node-semver's ``test/fixtures/range-{include,exclude,parse}.js`` (with node) and
Masterminds/semver's ``constraints_test.go`` (its test tables, by pattern), then asks
both libraries, built from the same checkouts, what they make of every row: whether the
range is valid and whether the version satisfies it with default options. Those
verdicts are stored beside each row, so the tests can tell where syncer follows npm,
where it follows Masterminds, and where it refuses a spelling.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent

NODE_DUMP = """
const parseOptions = require(process.argv.at(-1) + '/internal/parse-options.js')
const out = {}
for (const name of ['range-include', 'range-exclude', 'range-parse']) {
  out[name] = require(process.argv.at(-1) + '/test/fixtures/' + name + '.js').map(row => {
    const opts = parseOptions(row[2])
    return [row[0], row[1] === false ? null : row[1],
            {loose: !!opts.loose, includePrerelease: !!opts.includePrerelease}]
  })
}
console.log(JSON.stringify(out))
"""

NODE_CHECK = """
const Range = require(process.argv.at(-1) + '/classes/range.js')
const rl = require('readline').createInterface({ input: process.stdin })
rl.on('line', (line) => {
  const q = JSON.parse(line)
  const o = { valid: false, canonical: null, check: null }
  let r = null
  try {
    r = new Range(q.range, q.options || {}); o.valid = true; o.canonical = r.range
  } catch (e) {}
  if (r && typeof q.version === 'string') o.check = r.test(q.version)
  console.log(JSON.stringify(o))
})
"""

GO_CHECK = """package main

import (
	"bufio"
	"encoding/json"
	"os"

	"github.com/Masterminds/semver/v3"
)

func main() {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	enc := json.NewEncoder(os.Stdout)
	for sc.Scan() {
		var q struct {
			Range   string `json:"range"`
			Version any    `json:"version"`
			Include bool   `json:"include"`
		}
		if err := json.Unmarshal(sc.Bytes(), &q); err != nil {
			panic(err)
		}
		o := map[string]any{"valid": false, "check": nil}
		c, err := semver.NewConstraint(q.Range)
		o["valid"] = err == nil
		if s, ok := q.Version.(string); ok && err == nil {
			if v, verr := semver.NewVersion(s); verr == nil {
				c.IncludePrerelease = q.Include
				o["check"] = c.Check(v)
			}
		}
		enc.Encode(o)
	}
}
"""


def _lines(cmd: list[str], queries: list[dict], cwd: str | None = None) -> list[dict]:
    text = "".join(json.dumps(q) + "\n" for q in queries)
    out = subprocess.run(cmd, input=text, capture_output=True, text=True, check=True, cwd=cwd)
    return [json.loads(line) for line in out.stdout.splitlines()]


def _masterminds_rows(source: str) -> list[dict]:
    rows: list[dict] = []
    for match in re.finditer(r"\nfunc (Test\w+)\(t \*testing\.T\) \{(.*?)\n\}\n", source, re.S):
        name, body = match.groups()
        include = "IncludePrerelease = true" in body
        for c, v, check in re.findall(r'\{"([^"]*)", "([^"]*)", (true|false)\}', body):
            rows.append(
                {
                    "test": name,
                    "constraint": c,
                    "version": v,
                    "check": check == "true",
                    "include": include,
                }
            )
        if name == "TestNewConstraint":
            for c, err in re.findall(r'\{"([^"]*)", \d+, \d+, (true|false)\}', body):
                rows.append({"test": name, "constraint": c, "error": err == "true"})
        if name == "TestParseConstraint":
            for c, err in re.findall(r'\{"([^"]*)", \w+, "[^"]*", (true|false)\}', body):
                rows.append({"test": name, "constraint": c, "error": err == "true"})
    return rows


def main(node_semver: str, masterminds: str) -> None:
    fixtures = json.loads(
        subprocess.run(
            ["node", "-e", NODE_DUMP, node_semver], capture_output=True, text=True, check=True
        ).stdout
    )
    mm_rows = _masterminds_rows((Path(masterminds) / "constraints_test.go").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "main.go").write_text(GO_CHECK)
        (Path(tmp) / "go.mod").write_text(
            "module check\n\ngo 1.21\n\nrequire github.com/Masterminds/semver/v3 v3.4.0\n\n"
            f"replace github.com/Masterminds/semver/v3 => {Path(masterminds).resolve()}\n"
        )
        subprocess.run(["go", "build", "-mod=mod", "-o", "check", "."], cwd=tmp, check=True)
        node = ["node", "-e", NODE_CHECK, node_semver]
        go = [str(Path(tmp) / "check")]

        def verdicts(pairs: list[tuple[str, str | None, bool]]) -> tuple[list, list]:
            npm = _lines(node, [{"range": r, "version": v} for r, v, _ in pairs])
            mm = _lines(go, [{"range": r, "version": v, "include": i} for r, v, i in pairs])
            return npm, mm

        for name in ("range-include", "range-exclude", "range-parse"):
            rows = fixtures[name]
            own = _lines(node, [{"range": r, "options": o} for r, _, o in rows])
            pairs = [
                (r, None if name == "range-parse" else v, o["includePrerelease"])
                for r, v, o in rows
            ]
            npm, mm = verdicts(pairs)
            table = []
            for (rng, second, options), mine, n, m in zip(rows, own, npm, mm, strict=True):
                row: dict = {"range": rng, "options": options}
                if name == "range-parse":
                    row["canonical"] = second
                    row["canonical_as_parsed"] = mine["canonical"]
                else:
                    row["version"] = second
                    row["expected"] = name == "range-include"
                row["npm"] = n
                row["masterminds"] = m
                table.append(row)
            (HERE / "node-semver" / f"{name}.json").write_text(_dump(table))
        pairs = [(r["constraint"], r.get("version"), r.get("include", False)) for r in mm_rows]
        npm, mm = verdicts(pairs)
        for row, n, m in zip(mm_rows, npm, mm, strict=True):
            row["npm"], row["masterminds"] = n, m
        (HERE / "masterminds" / "constraints.json").write_text(_dump(mm_rows))


def _dump(rows: list[dict]) -> str:
    return "[\n" + ",\n".join(json.dumps(row, sort_keys=True) for row in rows) + "\n]\n"


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
