"""Every x-kubernetes-validations rule of both CRDs, evaluated with cel-python on good and bad objects.

Each case names exactly which rules refuse it, at which value path; the last test fails when any
rule in a CRD is not exercised by at least one passing and one refusing case.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pytest

from cvmfs_operator.api import inert
from cvmfs_operator.render import transaction as effective
from tests.unit.crds import cel
from tests.unit.crds.schema_tools import DELETE, Schema, changed, example, schema_errors, shared_schema, walk

REPO = example("repository.yaml")
TARBALL = example("transaction-1-tarball.yaml")
SCRIPT = example("transaction-2-script.yaml")
R, T = "Repository", "Transaction"


def msg(kind: str, path: str, words: str) -> str:
    """The message of the one rule at schema ``path`` whose message contains ``words``."""
    (found,) = [r.message for r in cel.rules(kind) if r.path == path and words in r.message]
    return found


FQRN_LENGTH = msg(R, "", "at most 60")
FQRN_CHARS = msg(R, "", "letters, digits")
ONE_BACKEND = msg(R, "spec.stratum0", "exactly one")
STRATUM0_URL = msg(R, "spec.stratum0.url", "URL")
ENDPOINT = msg(R, "spec.stratum0.s3.endpoint", "host")
STAGING_ENDPOINT = msg(R, "spec.staging.s3.endpoint", "host")
GATEWAY_URL = msg(R, "spec.stratum0.gateway.url", "URL")
STAR_ALONE = msg(R, "spec.allowedNamespaces", "every namespace")
DEVICE = msg(R, "spec.publisher", "DevicePlugin")
CREATE_S3 = msg(R, "spec", "spec.create needs spec.stratum0.s3")
CREATE_MASTER = msg(R, "spec", "spec.create needs spec.masterKeySecretRef")
OWN_SECRET = msg(R, "spec", "a Secret of its own")
GC_ENABLED = msg(R, "spec", "spec.maintenance.gc needs")
LEAD_TIME = msg(R, "spec.maintenance.resign", "shorter than")
LEAD_POSITIVE = msg(R, "spec.maintenance.resign.leadTime", "positive")
KEEP_EXCLUSIVE = msg(R, "spec.maintenance.gc", "exclusive")
KEEP_POSITIVE = msg(R, "spec.maintenance.gc.keepFor", "positive")
GC_CRON = msg(R, "spec.maintenance.gc.schedule", "cron")
CHECK_CRON = msg(R, "spec.maintenance.check.schedule", "cron")
IMMUTABLE = msg(T, "spec", "immutable")
ABSOLUTE = msg(T, "spec.path", "absolute")
EMPTY_SEGMENT = msg(T, "spec.path", '"//"')
DOT = msg(T, "spec.path", '"." segments')
DOTDOT = msg(T, "spec.path", '".." segments')
TRAILING = msg(T, "spec.path", "end with")
ONE_PAYLOAD = msg(T, "spec.payload", "exactly one")
TARBALL_URL = msg(T, "spec.payload.tarball.url", "s3://")
ITEM = "spec.payload.remove.paths[*]"
RM_ABSOLUTE = msg(T, ITEM, 'start with "/"')
RM_EMPTY_SEGMENT = msg(T, ITEM, '"//"')
RM_TRAILING = msg(T, ITEM, 'end with "/"')
RM_DOT = msg(T, ITEM, '"." segments')
RM_DOTDOT = msg(T, ITEM, '".." segments')
RESERVED_TAG = msg(T, "spec.tag.name", "reserved")
DESC = "spec.tag.description"
DESC_CHARS = msg(T, DESC, "may contain only")
DESC_BLANK = msg(T, DESC, "non-space")
DESC_OPTION = msg(T, DESC, "start with")

# Each is refused by exactly these description rules (cvmfs_server runs the text through sh -c).
HOSTILE_DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "Release 1.2.0 (LTS), see notes": (DESC_CHARS,),
    'say "hi"': (DESC_CHARS,),
    "it's": (DESC_CHARS,),
    "$(touch /tmp/x)": (DESC_CHARS,),
    "`touch /tmp/x`": (DESC_CHARS,),
    "notes; touch /tmp/x #": (DESC_CHARS,),
    "a && touch /tmp/x": (DESC_CHARS,),
    "a | tee /tmp/x": (DESC_CHARS,),
    "a # comment": (DESC_CHARS,),
    "line\nnext": (DESC_CHARS,),
    "tab\there": (DESC_CHARS,),
    "*": (DESC_CHARS,),
    "release\n": (DESC_CHARS,),
    "~root": (DESC_CHARS,),
    "Müller release": (DESC_CHARS,),
    "-d": (DESC_OPTION,),
    "release --": (DESC_OPTION,),
    "   ": (DESC_BLANK,),
}
SAFE_DESCRIPTIONS = ["Software release 1.2.0", "fix: a - b, c=d @site /cvmfs 50%", "v1.2.0+build_7", "-"]


@dataclass(frozen=True)
class Case:
    id: str
    kind: str
    obj: dict[str, Any]
    refused: frozenset[tuple[str, str]]  # {(value path, rule message)}; empty: accepted
    old: dict[str, Any] | None = None  # an update from this object


def repo(id: str, changes: dict[str, Any], *refused: tuple[str, str]) -> Case:
    return Case(id, R, changed(REPO, changes), frozenset(refused))


def txn(id: str, changes: dict[str, Any], *refused: tuple[str, str], base: dict[str, Any] = TARBALL) -> Case:
    return Case(id, T, changed(base, changes), frozenset(refused))


GATEWAY = {"url": "http://gateway.example.org:4929/api/v1", "keySecretRef": {"name": "gw"}}
URL, S3_ENDPOINT, GW_URL = "spec.stratum0.url", "spec.stratum0.s3.endpoint", "spec.stratum0.gateway.url"
GATEWAY_REPO = {"spec.stratum0.s3": DELETE, "spec.stratum0.gateway": GATEWAY}

CREATE = example("repository-create.yaml")
GC, CHECK = "spec.maintenance.gc", "spec.maintenance.check"
GOOD_CRON = ["0 3 * * SUN", "*/15 * * * *", "@daily", "@hourly", "0 0 1,15 * MON-FRI", "5  4 * jan,jul *"]
BAD_CRON = ["0 3 * *", "0 3 * * * *", "@reboot", "0 3 * * ?", "0;3 * * * *", " 0 3 * * *", "0 3 * * * "]


def created(id: str, changes: dict[str, Any], *refused: tuple[str, str]) -> Case:
    return Case(id, R, changed(CREATE, changes), frozenset(refused))


MAINTENANCE_CASES = [
    created("create example", {}),
    created("create behind a gateway", GATEWAY_REPO, ("spec", CREATE_S3)),
    created("create without a master key Secret", {"spec.masterKeySecretRef": DELETE},
            ("spec", CREATE_MASTER)),
    created("master key in the keys Secret", {"spec.masterKeySecretRef.name": "new-example-org-keys"},
            ("spec", OWN_SECRET)),
    repo("master key Secret without create", {"spec.masterKeySecretRef": {"name": "software-master"}}),
    created("gc on a repository without garbage collection", {"spec.settings.garbageCollection": False},
            ("spec", GC_ENABLED)),
    created("gc with settings defaulted", {"spec.settings": DELETE}, ("spec", GC_ENABLED)),
    created("checks only", {"spec.settings": DELETE, GC: DELETE}),
    created("resign defaulted", {"spec.maintenance.resign": {}}),
    created("lead time just under the validity", {"spec.maintenance.resign.leadTime": "719h59m"}),
    created("lead time of the validity", {"spec.maintenance.resign.leadTime": "720h"},
            ("spec.maintenance.resign", LEAD_TIME)),
    created("lead time over a short validity", {"spec.maintenance.resign.whitelistDays": 7},
            ("spec.maintenance.resign", LEAD_TIME)),
    created("lead time zero", {"spec.maintenance.resign.leadTime": "0h"},
            ("spec.maintenance.resign.leadTime", LEAD_POSITIVE)),
    created("keep revisions", {f"{GC}.keepFor": DELETE, f"{GC}.keepRevisions": 3}),
    created("keep revisions and a time", {f"{GC}.keepRevisions": 3}, (GC, KEEP_EXCLUSIVE)),
    created("keep for zero", {f"{GC}.keepFor": "0m0s"}, (f"{GC}.keepFor", KEEP_POSITIVE)),
    *[created(f"schedule {c!r}", {f"{GC}.schedule": c, f"{CHECK}.schedule": c}) for c in GOOD_CRON],
    *[created(f"schedule {c!r}", {f"{GC}.schedule": c, f"{CHECK}.schedule": c},
              (f"{GC}.schedule", GC_CRON), (f"{CHECK}.schedule", CHECK_CRON)) for c in BAD_CRON],
]

REPOSITORY_CASES = [
    repo("example", {}),
    repo("FQRN of 60 characters", {"metadata.name": "a" * 56 + ".org"}),
    # CernVM-FS accepts these; the API server's own name check (DNS subdomain) would still refuse
    # them for a Repository, but not for a Transaction's spec.repository.
    repo("FQRN with _ and upper case", {"metadata.name": "Software_1.example-org"}),
    repo("FQRN of 61 characters", {"metadata.name": "a" * 57 + ".org"}, ("", FQRN_LENGTH)),
    repo("FQRN starting with _", {"metadata.name": "_software.example.org"}, ("", FQRN_CHARS)),
    repo("FQRN with a space", {"metadata.name": "software example.org"}, ("", FQRN_CHARS)),
    repo("FQRN with a slash", {"metadata.name": "software/example"}, ("", FQRN_CHARS)),
    repo("FQRN too long and invalid", {"metadata.name": "-" * 61}, ("", FQRN_LENGTH), ("", FQRN_CHARS)),
    repo("gateway only", GATEWAY_REPO),
    repo("s3 and gateway", {"spec.stratum0.gateway": GATEWAY}, ("spec.stratum0", ONE_BACKEND)),
    repo("no backend", {"spec.stratum0.s3": DELETE}, ("spec.stratum0", ONE_BACKEND)),
    repo("stratum0 on localhost with port", {URL: "http://localhost:9000/cvmfs/software.example.org"}),
    repo("stratum0 on IPv6", {URL: "https://[::1]:8443/cvmfs"}),
    repo("stratum0 host only", {URL: "http://stratum0.example.org"}),
    repo("stratum0 ftp", {URL: "ftp://s3.example.org/cvmfs"}, (URL, STRATUM0_URL)),
    repo("stratum0 without scheme", {URL: "s3.example.org/cvmfs"}, (URL, STRATUM0_URL)),
    repo("stratum0 without host", {URL: "http:///cvmfs"}, (URL, STRATUM0_URL)),
    repo("stratum0 with query", {URL: "http://h.example.org/cvmfs?x=1"}, (URL, STRATUM0_URL)),
    repo("stratum0 with user", {URL: "http://user@h.example.org/cvmfs"}, (URL, STRATUM0_URL)),
    repo("stratum0 with space", {URL: "http://h.example.org/c vmfs"}, (URL, STRATUM0_URL)),
    *[
        repo(f"stratum0 path {bad!r}", {URL: f"http://h.example.org/cvmfs{bad}"}, (URL, STRATUM0_URL))
        for bad in ("/$(touch x)", "/a;b", "/a&b", "/`id`", "/a'b", "/~user", "/a*")
    ],
    repo(
        "gateway url with a command",
        {**GATEWAY_REPO, "spec.stratum0.gateway.url": "http://gw.example.org/api/$(id)"},
        (GW_URL, GATEWAY_URL),
    ),
    repo("endpoint with port", {S3_ENDPOINT: "http://127.0.0.1:9000"}),
    repo("endpoint with trailing slash", {S3_ENDPOINT: "https://s3.example.org/"}),
    repo("endpoint with path", {S3_ENDPOINT: "https://s3.example.org/cvmfs"}, (S3_ENDPOINT, ENDPOINT)),
    repo("endpoint without scheme", {S3_ENDPOINT: "s3.example.org"}, (S3_ENDPOINT, ENDPOINT)),
    repo("endpoint host ends with dash", {S3_ENDPOINT: "http://s3-.example.org"}, (S3_ENDPOINT, ENDPOINT)),
    repo("staging bucket", {"spec.staging": {"s3": {"endpoint": "https://s3.example.org:8443",
                                                    "bucket": "cvmfs-staging", "prefix": "incoming/sw"}}}),
    repo("staging endpoint with path", {"spec.staging": {"s3": {"endpoint": "https://s3.example.org/x",
                                                                "bucket": "cvmfs-staging"}}},
         ("spec.staging.s3.endpoint", STAGING_ENDPOINT)),
    repo(
        "gateway url without scheme",
        {**GATEWAY_REPO, "spec.stratum0.gateway.url": "gateway.example.org:4929"},
        (GW_URL, GATEWAY_URL),
    ),
    repo("every namespace", {"spec.allowedNamespaces": ["*"]}),
    repo("no namespace", {"spec.allowedNamespaces": []}),
    repo("two namespaces", {"spec.allowedNamespaces": ["default", "ci"]}),
    repo(
        "* and a namespace",
        {"spec.allowedNamespaces": ["*", "default"]},
        ("spec.allowedNamespaces", STAR_ALONE),
    ),
    repo(
        "device plugin with resource",
        {
            "spec.publisher.privilegeMode": "DevicePlugin",
            "spec.publisher.fuseDeviceResource": "smarter-devices/fuse",
        },
    ),
    repo(
        "device plugin without resource",
        {"spec.publisher.privilegeMode": "DevicePlugin"},
        ("spec.publisher", DEVICE),
    ),
    repo("publisher defaulted", {"spec.publisher": DELETE}),
    *MAINTENANCE_CASES,
]

GOOD_PATHS = [
    "/",
    "/a",
    "/releases/1.2.0",
    "/.hidden",
    "/a/.b/c",
    "/a/..b",
    "/a/b..",
    "/...",
    "/a.",
    "/a-b_c",
]
BAD_PATHS: dict[str, tuple[str, ...]] = {
    "relative": (ABSOLUTE,),
    "a/b": (ABSOLUTE,),
    "./a": (ABSOLUTE,),
    "//": (EMPTY_SEGMENT, TRAILING),
    "//a": (EMPTY_SEGMENT,),
    "/a//b": (EMPTY_SEGMENT,),
    "/.": (DOT,),
    "/a/./b": (DOT,),
    "/a/.": (DOT,),
    "/./": (DOT, TRAILING),
    "/..": (DOTDOT,),
    "/../a": (DOTDOT,),
    "/a/../b": (DOTDOT,),
    "/a/..": (DOTDOT,),
    "/a/": (TRAILING,),
    "/a/b/": (TRAILING,),
    "a/../": (ABSOLUTE, DOTDOT, TRAILING),
}
GOOD_REMOVE = ["bin/old", "lib", ".hidden", "a/..b", "a/b.", "...", "a/.b/c", "x y"]
BAD_REMOVE: dict[str, tuple[str, ...]] = {
    "/abs": (RM_ABSOLUTE,),
    "/": (RM_ABSOLUTE, RM_TRAILING),
    "a//b": (RM_EMPTY_SEGMENT,),
    "a/": (RM_TRAILING,),
    ".": (RM_DOT,),
    "./a": (RM_DOT,),
    "a/./b": (RM_DOT,),
    "a/.": (RM_DOT,),
    "..": (RM_DOTDOT,),
    "../x": (RM_DOTDOT,),
    "a/../b": (RM_DOTDOT,),
    "a/..": (RM_DOTDOT,),
    "/../": (RM_ABSOLUTE, RM_TRAILING, RM_DOTDOT),
}
TARBALL_URLS = [
    "https://downloads.example.org/a.tar.gz",
    "http://10.0.0.1:8080/x.tgz?X-Amz-Signature=abc",
    "s3://my-bucket/path/to/x.tar.gz",
    "https://[2001:db8::1]/x.tar",
]
BAD_TARBALL_URLS = [
    "ftp://h.example.org/x.tar",
    "s3://my-bucket",
    "s3:///key",
    "file:///tmp/x.tar",
    "https://",
    "https://h.example.org/a b.tar",
    "S3://Bucket/key",
    "downloads.example.org/a.tar.gz",
]
PAYLOADS = {
    "tarball": {"url": "https://h.example.org/x.tar"},
    "stage": {"image": "registry.example.org/build:1"},
    "remove": {"paths": ["old"]},
    "script": {"source": "true"},
}
UNCHANGED_SPEC = TARBALL["spec"]

TRANSACTION_CASES = [
    txn("tarball example", {}),
    txn("script example", {}, base=SCRIPT),
    *[txn(f"path {p!r}", {"spec.path": p}) for p in GOOD_PATHS],
    txn("path defaulted to /", {"spec.path": DELETE}),
    *[
        txn(f"path {p!r}", {"spec.path": p}, *(("spec.path", m) for m in refused))
        for p, refused in BAD_PATHS.items()
    ],
    *[txn(f"only {kind}", {"spec.payload": {kind: value}}) for kind, value in PAYLOADS.items()],
    txn("no payload kind", {"spec.payload": {}}, ("spec.payload", ONE_PAYLOAD)),
    txn("tarball and script", {"spec.payload.script": PAYLOADS["script"]}, ("spec.payload", ONE_PAYLOAD)),
    txn("every payload kind", {"spec.payload": PAYLOADS}, ("spec.payload", ONE_PAYLOAD)),
    *[txn(f"tarball {u!r}", {"spec.payload.tarball.url": u}) for u in TARBALL_URLS],
    *[
        txn(f"tarball {u!r}", {"spec.payload.tarball.url": u}, ("spec.payload.tarball.url", TARBALL_URL))
        for u in BAD_TARBALL_URLS
    ],
    txn("remove good paths", {"spec.payload": {"remove": {"paths": GOOD_REMOVE}}}),
    *[
        txn(
            f"remove {p!r}",
            {"spec.payload": {"remove": {"paths": ["ok", p]}}},
            *(("spec.payload.remove.paths[1]", m) for m in refused),
        )
        for p, refused in BAD_REMOVE.items()
    ],
    txn("tag generic without dash", {"spec.tag.name": "generic"}),
    txn("tag trunk2", {"spec.tag.name": "trunk2"}),
    txn("tag without name", {"spec.tag": {"description": "d"}}),
    *[txn(f"description {d!r}", {"spec.tag.description": d}) for d in SAFE_DESCRIPTIONS],
    *[
        txn(f"description {d!r}", {"spec.tag.description": d}, *((DESC, m) for m in refused))
        for d, refused in HOSTILE_DESCRIPTIONS.items()
    ],
    *[
        txn(f"tag {n!r}", {"spec.tag.name": n}, ("spec.tag.name", RESERVED_TAG))
        for n in ("trunk", "trunk-previous", "generic-2026-01-01")
    ],
    Case(
        "update: labels and status only",
        T,
        changed(TARBALL, {"metadata.labels": {"a": "b"}, "status.phase": "Running"}),
        frozenset(),
        old=TARBALL,
    ),
    Case(
        "update: a default spelled out",
        T,
        TARBALL,
        frozenset(),
        old=changed(TARBALL, {"spec.backoffLimit": DELETE}),
    ),
    Case(
        "update: path changed",
        T,
        changed(TARBALL, {"spec.path": "/releases/1.2.1"}),
        frozenset({("spec", IMMUTABLE)}),
        old=TARBALL,
    ),
    Case(
        "update: tag description changed",
        T,
        changed(TARBALL, {"spec.tag.description": "other"}),
        frozenset({("spec", IMMUTABLE)}),
        old=TARBALL,
    ),
    Case(
        "update: payload replaced",
        T,
        changed(TARBALL, {"spec.payload": {"remove": {"paths": ["x"]}}}),
        frozenset({("spec", IMMUTABLE)}),
        old=TARBALL,
    ),
    Case(
        "update: backoffLimit set to its default",
        T,
        changed(TARBALL, {"spec.backoffLimit": DELETE}),
        frozenset(),
        old=TARBALL,
    ),
    Case(
        "update: timeout removed (default differs)",
        T,
        changed(TARBALL, {"spec.timeoutSeconds": DELETE}),
        frozenset({("spec", IMMUTABLE)}),
        old=TARBALL,
    ),
]
CASES = REPOSITORY_CASES + TRANSACTION_CASES


@pytest.mark.parametrize("case", CASES, ids=[f"{c.kind}: {c.id}" for c in CASES])
def test_rules(case: Case) -> None:
    # The OpenAPI schema accepts the object, so what refuses it is the CEL rules named here.
    assert schema_errors(case.kind, case.obj) == set()
    assert cel.violations(case.kind, case.obj, case.old) == case.refused


def test_the_immutability_rule_does_not_run_on_create() -> None:
    outcomes = cel.evaluate(T, changed(TARBALL, {"spec.path": "/other"}))
    assert IMMUTABLE not in {o.rule.message for o in outcomes}
    assert IMMUTABLE in {o.rule.message for o in cel.evaluate(T, TARBALL, TARBALL)}


def test_rules_run_on_every_list_item() -> None:
    obj = changed(TARBALL, {"spec.payload": {"remove": {"paths": ["/a", "b", "c/"]}}})
    assert cel.violations(T, obj) == {
        ("spec.payload.remove.paths[0]", RM_ABSOLUTE),
        ("spec.payload.remove.paths[2]", RM_TRAILING),
    }


def test_every_rule_is_exercised_by_a_passing_and_a_refusing_case() -> None:
    seen: dict[cel.Rule, set[bool]] = defaultdict(set)
    for case in CASES:
        for outcome in cel.evaluate(case.kind, case.obj, case.old):
            seen[outcome.rule].add(outcome.passed)
    missing = [
        (rule.kind, rule.path, rule.message, sorted(seen[rule]))
        for kind in (R, T)
        for rule in cel.rules(kind)
        if seen[rule] != {True, False}
    ]
    assert missing == []
    assert len(cel.rules(R)) + len(cel.rules(T)) == len({r for r in seen})


MAX_REQUEST_BYTES = 3 * 1024 * 1024  # what the API server assumes for a string without maxLength
PER_RULE_LIMIT = 10_000_000  # apiextensions StaticEstimatedCostLimit
PER_CRD_LIMIT = 100_000_000  # apiextensions StaticEstimatedCRDCostLimit
_MATCHES = re.compile(r'\.matches\("((?:[^"\\]|\\.)*)"\)')
_SCANS = re.compile(r"\.(contains|startsWith|endsWith)\(")
_CONVERTS = re.compile(r"(?<![\w.])string\(")


def _rough_cost(rule: cel.Rule, node: Schema, cardinality: int) -> float:
    """An upper estimate of the API server's static cost of ``rule`` (cel-go's estimator: a string
    scan costs 0.1 per byte, matches() that times 0.25 per regex character; a string of maxLength n
    counts 4n bytes; a rule below lists runs once per possible item)."""
    if _CONVERTS.search(rule.rule):
        # A string made by a conversion has no bound the estimator can see: kube-apiserver 1.28.7
        # refused `duration(string(self.whitelistDays * 24) + "h")` with "estimated rule cost
        # exceeds budget by factor of more than 100x", and with it the whole CRD.
        return float("inf")
    size = MAX_REQUEST_BYTES if rule.path == "" else 4 * node.get("maxLength", MAX_REQUEST_BYTES // 4)
    scan = (size + 1) * 0.1
    cost = sum(scan * len(regex) * 0.25 for regex in _MATCHES.findall(rule.rule))
    cost += scan * len(_SCANS.findall(rule.rule))
    return (cost + 10) * cardinality


@pytest.mark.parametrize("kind", [R, T, "RepositoryOperation"])
def test_rules_fit_the_api_servers_cost_budget(kind: str) -> None:
    schema = shared_schema(kind)
    total = 0.0
    for node in walk(schema):
        cardinality, current = 1, schema
        for step in re.findall(r"\[\*\]|\{\*\}|[^.\[{]+", node.path):
            key = {"[*]": "items", "{*}": "additionalProperties"}.get(step)
            current = current[key] if key else current["properties"][step]
            cardinality *= current.get("maxItems", 1) if current.get("type") == "array" else 1
        for entry in node.schema.get("x-kubernetes-validations", []):
            rule = cel.Rule(kind, node.path, entry["rule"], entry["message"])
            cost = _rough_cost(rule, node.schema, cardinality)
            assert cost < PER_RULE_LIMIT, (rule.path, rule.rule, cost)
            total += cost
    assert total < PER_CRD_LIMIT


def test_the_estimate_refuses_what_a_real_api_server_refused() -> None:
    """The rule kube-apiserver 1.28.7 refused (and so the Repository CRD), and the one that
    replaced it (accepted there): the same decision on every lead time, at a bounded cost."""
    node: Schema = {"type": "object"}
    refused = cel.Rule(R, "spec.maintenance.resign",
                       'duration(self.leadTime) < duration(string(self.whitelistDays * 24) + "h")', "")
    assert _rough_cost(refused, node, 1) >= PER_RULE_LIMIT
    accepted = [r for r in cel.rules(R) if r.path == "spec.maintenance.resign"]
    assert [r.rule for r in accepted] == ["duration(self.leadTime).getHours() < self.whitelistDays * 24"]
    assert _rough_cost(accepted[0], node, 1) < PER_RULE_LIMIT


@pytest.mark.parametrize("text", [*SAFE_DESCRIPTIONS, *HOSTILE_DESCRIPTIONS])
def test_the_description_rules_agree_with_the_operator_and_the_publisher(text: str) -> None:
    """One rule set (api.inert): what the API server admits is what the publisher passes on."""
    obj = changed(TARBALL, {"spec.tag.description": text})
    admitted = not cel.violations(T, obj, None)
    assert admitted == (inert.description_error(text) is None)
    assert admitted == (text in SAFE_DESCRIPTIONS)
    if admitted:  # and what the operator makes of it (its suffix added) passes the publisher's check
        txn: Any = changed(obj, {"metadata.uid": "0b5c3f0e-6a3e-4d1b-9d4f-2f6e1c7a9b10"})
        composed = effective.tag_description(txn)
        assert composed.startswith(text)
        assert inert.description_error(composed, inert.PUBLISHED_DESCRIPTION_MAX) is None
