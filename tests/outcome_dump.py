"""Dump every matrix case and the oracle's expected outcome, as sorted text.

For every recorded topology in tests/data/sysfs/, for the releases 6.1, 6.12 and 7.3 and
for the profiles mainline, private-rfc-v4, private-v5, private-features and cpuset-fence:
each case's id, params and expected outcome (the version gates it needs, the errno, the
placement with a fixed vm_pgoff, the readback, the private-node rules). A refactoring that
must not change behaviour leaves this output byte-identical:

    python3 tests/outcome_dump.py > before.txt   # on the starting point
    python3 tests/outcome_dump.py > after.txt    # after the change
    cmp before.txt after.txt

Import paths are tried old and new, so the script runs on both sides of the layout change.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SYSFS = ROOT / "tests" / "data" / "sysfs"
RELEASES = ("6.1.0", "6.12.0", "7.3.0")
PROFILES = ("mainline", "private-rfc-v4", "private-v5", "private-features", "cpuset-fence")
AREAS = (
    "errors",
    "flags",
    "leaks",
    "lifecycle",
    "mappings",
    "migration",
    "modes",
    "placement",
    "pressure",
    "private_nodes",
    "readback",
)
VM_PGOFF = 0x7F1FA4C58  # above 2**32: kernels before 6.7 rotate an interleave elsewhere
NPAGES = 255


def _first(*names: str) -> Any:
    """The first of `module:attr` names that imports (old layout, then new)."""
    errors = []
    for name in names:
        module, _, attr = name.partition(":")
        try:
            loaded = importlib.import_module(module)
            return getattr(loaded, attr) if attr else loaded
        except (ImportError, AttributeError) as exc:
            errors.append(f"{name}: {exc}")
    raise ImportError("; ".join(errors))


discover = _first("fixtures.topology:discover", "fixtures.system.topology:discover")
oracle = _first("fixtures.oracle")
errors_oracle = _first("fixtures.oracle.errors")
mappings_oracle = _first("fixtures.oracle.mappings")
private_oracle = _first("fixtures.oracle.private")
policy_features = _first(
    "fixtures.checks:policy_features", "fixtures.plugin.checks:policy_features"
)


def load(name: str) -> tuple[Any, Any]:
    """(Profile, PrivateRules or None) for a profile name, whichever loader exists."""
    try:
        profile = _first("fixtures.profile:load_profile")(name)
    except ImportError:
        profile = _first("fixtures.profiles:load_profile")(name)
    rules = getattr(profile, "private", None)
    if rules is None and hasattr(private_oracle, "load_rules"):
        try:
            rules = private_oracle.load_rules(name)
        except Exception:  # a profile without [private]
            rules = None
    return profile, rules


def text(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def expectation(exp: Any) -> object:
    out: dict[str, object] = {"json": exp.to_json()}
    per_page = getattr(exp, "per_page", None)
    if per_page is not None:
        out["per_page"] = hashlib.sha1(repr(tuple(per_page)).encode()).hexdigest()[:12]
    return out


def attempt(fn: Callable[[], object]) -> object:
    try:
        return fn()
    except Exception as exc:  # the outcome of an oracle that refuses is an outcome too
        return f"raises {type(exc).__name__}: {exc}"


def unsupported_reason(cause: Any, profile: Any, release: str) -> str | None:
    """Why `cause` is unsupported: the errors oracle's own function before the one gate
    idiom, then the first of the cause's `requires` the profile says the kernel lacks."""
    if hasattr(errors_oracle, "unsupported_reason"):
        return errors_oracle.unsupported_reason(cause, profile, release)
    reasons = (profile.unsupported_reason(f, release) for f in cause.requires)
    return next((r for r in reasons if r is not None), None)


def outcomes(c: Any, topology: Any, profile: Any, rules: Any, release: str) -> dict[str, object]:
    out: dict[str, object] = {}
    cause = getattr(c, "cause", None)
    if cause is not None and hasattr(errors_oracle, "expected_errno"):
        out["errno"] = attempt(
            lambda: errors_oracle.expected_errno(cause, profile, release).to_json()
        )
        out["unsupported"] = attempt(lambda: unsupported_reason(cause, profile, release))
    policy = getattr(c, "policy", None)
    if isinstance(policy, oracle.Policy):
        out["gates"] = [profile.unsupported_reason(f, release) for f in policy_features(policy)]
        out["readback"] = attempt(lambda: oracle.readback(policy, profile, release).to_json())
        api = getattr(c, "api", None)
        cpu_node = getattr(c, "cpu_node", None)
        kind = getattr(c, "kind", None)
        if kind in getattr(mappings_oracle, "KINDS", {}):
            geometry = mappings_oracle.Geometry(
                units=16,
                unit_kib=4,
                units_per_folio=1,
                order=0,
                vm_start=VM_PGOFF << 12,
                vm_pgoff=VM_PGOFF,
                inode=4321,
            )
            out["mapping"] = attempt(
                lambda: mappings_oracle.mapping_placement(
                    topology,
                    mappings_oracle.KINDS[kind],
                    policy,
                    profile,
                    release,
                    geometry=geometry,
                    cpu_node=cpu_node,
                ).to_json()
            )
        elif api in ("mbind", "set_mempolicy") and cpu_node is not None:
            out["placement"] = attempt(
                lambda: expectation(
                    oracle.api_placement(
                        api,
                        topology,
                        policy,
                        profile,
                        release,
                        npages=NPAGES,
                        vm_pgoff=VM_PGOFF,
                        cpu_node=cpu_node,
                    )
                )
            )
        node = getattr(c, "node", None)
        if rules is not None and isinstance(node, int):
            gate = getattr(private_oracle, "policy_gate", None) or private_oracle.effective_policy
            effective = attempt(lambda: gate(policy, node, rules, None))
            out["private_effective"] = repr(effective)
    return out


def cases(build: Callable[[Any], list[Any]], topology: Any) -> Iterator[Any]:
    try:
        yield from build(topology)
    except Exception as exc:
        yield f"raises {type(exc).__name__}: {exc}"


def main() -> None:
    modules = {area: importlib.import_module(f"conformance.test_{area}") for area in AREAS}
    lines: list[str] = []
    for sysfs in sorted(p for p in SYSFS.iterdir() if p.is_dir()):
        topology = discover(sysfs)
        for name in PROFILES:
            profile, rules = load(name)
            for release in RELEASES:
                head = f"{sysfs.name} {release} {name}"
                gates = f"{text(profile.features)} {text(profile.tolerances)}"
                lines.append(f"{head} # profile {gates}")
                if rules is not None:
                    lines.append(f"{head} # rules {text(rules.to_json())} {rules!r}")
                for area, module in modules.items():
                    for fixture, build in module.MATRIX.items():
                        for c in cases(build, topology):
                            if isinstance(c, str) or not hasattr(c, "params"):
                                lines.append(f"{head} {area}/{fixture} {c!r}")
                                continue
                            lines.append(
                                f"{head} {area}/{fixture} {c.id} {text(c.params())} "
                                f"{text(outcomes(c, topology, profile, rules, release))}"
                            )
    sys.stdout.write("".join(f"{line}\n" for line in sorted(lines)))


if __name__ == "__main__":
    main()
