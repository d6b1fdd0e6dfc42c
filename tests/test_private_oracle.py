"""The private-node oracle and the profiles that feed it (fixtures/profiles/*.toml)."""

import tomllib
from pathlib import Path

import pytest

from fixtures.abi.uapi import Mode
from fixtures.oracle.placement import ExactPages, Policy, Within
from fixtures.oracle.private import (
    PRIVATE_KEYS,
    STOCK,
    USER_COUNTERS,
    BindFull,
    Refused,
    bind_full,
    leak_in_expectation,
    migration_outcome,
    no_pressure_placement,
    noise_bound,
    page_cache_outcome,
    policy_gate,
    readback,
)
from fixtures.profiles import ProfileError, known_profiles, load_profile, standalone_toml
from fixtures.system.private import discover_private
from fixtures.system.topology import discover

SYSFS = Path(__file__).parent / "data" / "sysfs"
PROFILES = ("private-rfc-v4", "private-v5", "private-features", "cpuset-fence")
STOCK_TOPOLOGY = discover(SYSFS / "qemu-private-6.12")  # nodes 0, 1 normal; 2 CPU-less


@pytest.mark.parametrize("name", PROFILES)
def test_every_private_profile_answers_every_open_question(name: str) -> None:
    rules = load_profile(name).private
    assert rules.profile == name
    assert rules.set_mempolicy and rules.bind_full and rules.migrate_onto
    assert rules.page_cache in ("allowed", "fallback", "oom") or rules.page_cache.startswith("E")
    assert rules.mixed_masks in ("nearest", "public-first") and rules.noise_floor_pages >= 0
    assert set(USER_COUNTERS) - {"file"} <= set(rules.isolated_counters)
    # The profile is a whole profile: the rest of the matrix can run under it.
    assert load_profile(name).tolerance("task_interleave_pages") >= 0


def test_mainline_has_no_private_table_and_reads_as_a_stock_kernel() -> None:
    rules = load_profile("mainline").private
    assert rules.profile == "mainline"
    assert rules.drop_modes == STOCK.drop_modes == frozenset()
    assert rules.isolated_counters == USER_COUNTERS


def test_cpuset_fence_gates_agree_with_mainline() -> None:
    fence, mainline = load_profile("cpuset-fence"), load_profile("mainline")
    for feature, since in fence.features.items():
        assert mainline.features.get(feature, since) == since, feature
    assert fence.features["interleave_index_full_width"] == "6.7"


def test_a_users_profile_file_is_read(tmp_path: Path) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text(
        'name = "mine"\n[private]\nmempolicy_gate = "always"\nset_mempolicy = "EPERM"\n'
        'bind_full = "fallback"\nmigrate_onto = "EACCES"\npage_cache = "fallback"\n'
        'drop_modes = ["MPOL_INTERLEAVE"]\nisolated_counters = ["anon"]\n'
    )
    rules = load_profile(str(mine)).private
    assert rules.set_mempolicy == "EPERM" and rules.bind_full == "fallback"
    assert rules.verified == ""  # a user's profile is unverified until said otherwise
    assert rules.drop_modes == {Mode.MPOL_INTERLEAVE}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "x"\n[private]\n', "lacks"),
        (
            'name = "x"\n[private]\nmempolicy_gate = "sometimes"\nset_mempolicy = "allowed"\n'
            'bind_full = "oom"\nmigrate_onto = "allowed"\npage_cache = "fallback"\n',
            "mempolicy_gate",
        ),
        (
            'name = "x"\n[private]\nmempolicy_gate = "always"\nset_mempolicy = "allowed"\n'
            'bind_full = "oom"\nmigrate_onto = "allowed"\npage_cache = "fallback"\n'
            'isolated_counters = ["hugetlb"]\n',
            "unknown isolated_counters",
        ),
    ],
)
def test_bad_private_tables_are_profile_errors(tmp_path: Path, text: str, message: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(ProfileError, match=message):
        load_profile(str(bad))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'name = "x"\nfeatures = "abc"\n', "features = 'abc' must be a table: [features]"),
        (b'name = "x"\ntolerances = 3\n', "tolerances = 3 must be a table"),
        (b'name = "x"\nprivate = []\n', "private = [] must be a table"),
        (b'name = "x"\n[features]\nMPOL_BIND = 6.9\n', "[features] MPOL_BIND = 6.9 must be"),
        (b'name = "x"\n[features]\nMPOL_BIND = "soon"\n', "MPOL_BIND = 'soon' must be the"),
        (b'name = "x"\n[tolerances]\nslack = -1\n', "[tolerances] slack = -1 must be an"),
        (b'name = "x"\n[tolerances]\nslack = "4"\n', "[tolerances] slack = '4' must be an"),
        (b"name = 5\n", "name = 5 must be a string"),
        (b'name = "\xff"\n', "byte 8 is not UTF-8"),
        # Refused in the file that holds it, before `extends` merges it into mainline's.
        (b'name = "x"\nextends = "mainline"\nfeatures = "abc"\n', "features = 'abc' must be"),
    ],
)
def test_malformed_profile_fields_name_the_file_and_field(
    tmp_path: Path, content: bytes, message: str
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_bytes(content)
    with pytest.raises(ProfileError) as raised:
        load_profile(str(bad))
    assert str(raised.value).startswith(f"profile {bad}: ")
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_v5_drops_the_private_node_from_interleave_and_refuses_preferred() -> None:
    rules = load_profile("private-v5").private
    mixed = Policy(Mode.MPOL_INTERLEAVE, frozenset({0, 2}))
    assert policy_gate(mixed, 2, rules, None) == Policy(Mode.MPOL_INTERLEAVE, frozenset({0}))
    refused = policy_gate(Policy(Mode.MPOL_PREFERRED, frozenset({2})), 2, rules, None)
    assert isinstance(refused, Refused) and refused.errno == "EINVAL"
    bind = Policy(Mode.MPOL_BIND, frozenset({2}))
    assert policy_gate(bind, 2, rules, None) == bind


def test_rfc_v4_gates_on_has_memory() -> None:
    rules = load_profile("private-rfc-v4").private
    bind = Policy(Mode.MPOL_BIND, frozenset({3}))
    refusing = discover_private(SYSFS / "private-rfc-v4", cmdline="")  # not in has_memory
    allowing = discover_private(SYSFS / "private-v5", cmdline="")  # in has_memory
    assert isinstance(policy_gate(bind, 3, rules, refusing), Refused)
    assert policy_gate(bind, 3, rules, allowing) == bind


def test_stock_keeps_every_mask() -> None:
    mixed = Policy(Mode.MPOL_INTERLEAVE, frozenset({0, 2}))
    assert policy_gate(mixed, 2, STOCK, None) == mixed


def test_no_pressure_placement_is_exact() -> None:
    interleave = no_pressure_placement(
        STOCK_TOPOLOGY, Policy(Mode.MPOL_INTERLEAVE, frozenset({0, 2})), 5, 7, 0
    )
    assert isinstance(interleave, ExactPages) and interleave.per_page == (2, 0, 2, 0, 2)
    bind = no_pressure_placement(STOCK_TOPOLOGY, Policy(Mode.MPOL_BIND, frozenset({0, 2})), 3, 0, 0)
    assert isinstance(bind, ExactPages) and bind.per_page == (0, 0, 0)
    many = no_pressure_placement(
        STOCK_TOPOLOGY, Policy(Mode.MPOL_PREFERRED_MANY, frozenset({1, 2})), 2, 0, 0
    )
    assert isinstance(many, ExactPages) and many.per_page == (1, 1)  # 20 is nearer than 30


def test_migration_follows_the_caps() -> None:
    features = discover_private(SYSFS / "private-features", cmdline="")  # caps: user
    rules = load_profile("private-features").private
    allowed = migration_outcome("move_pages", rules, 3, 0, 4, features)
    assert allowed.pages.per_page == (3, 3, 3, 3) and allowed.errno is None
    v5 = load_profile("private-v5").private  # cap:user_numa, which the tree does not grant
    refused = migration_outcome("migrate_pages", v5, 3, 0, 4, features)
    assert refused.pages.per_page == (0, 0, 0, 0) and refused.errno == v5.migrate_refused
    asked = discover_private(SYSFS / "private-v5", cmdline="private_node=3,user_numa")
    assert migration_outcome("move_pages", v5, 3, 0, 2, asked).pages.per_page == (3, 3)


def test_rfc_v4_mbind_move_passes_the_gate_first() -> None:
    """One gate for every rule: a node outside has_memory refuses mbind(MF_MOVE) with
    EINVAL before any migration rule is asked (it used to expect the pages moved)."""
    rules = load_profile("private-rfc-v4").private
    closed = discover_private(SYSFS / "private-rfc-v4", cmdline="mpol_private_node.nid=3")
    moved = migration_outcome("mbind-move", rules, 3, 0, 4, closed)
    assert moved.errno == "EINVAL" and moved.pages.per_page == (0, 0, 0, 0)
    by_pages = migration_outcome("move_pages", rules, 3, 0, 4, closed)
    assert by_pages.errno == "ENODEV"  # patch 12: no migrate_to without NP_OPS_MIGRATION
    opened = discover_private(
        SYSFS / "private-v5",
        cmdline="mpol_private_node.nid=3 mpol_private_node.ops=mempolicy,migration",
    )
    assert migration_outcome("move_pages", rules, 3, 0, 2, opened).pages.per_page == (3, 3)
    assert migration_outcome("mbind-move", rules, 3, 0, 2, opened).errno is None


def test_page_cache_and_bind_full_start_from_the_gate() -> None:
    v5 = load_profile("private-v5").private
    never = page_cache_outcome(STOCK_TOPOLOGY, v5, 2, 8, None)
    assert isinstance(never, Within) and never.nodes == {0, 1}
    assert never.violations((2,) * 8)
    allowed = page_cache_outcome(STOCK_TOPOLOGY, STOCK, 2, 8, None)
    assert isinstance(allowed, ExactPages) and allowed.counts == {2: 8}
    stock_full = bind_full(STOCK, 2, None)
    assert isinstance(stock_full, BindFull) and stock_full.to_json()["signal"] == "SIGKILL"
    v4 = load_profile("private-rfc-v4").private
    closed = discover_private(SYSFS / "private-rfc-v4", cmdline="")
    for refused in (bind_full(v4, 3, closed), page_cache_outcome(STOCK_TOPOLOGY, v4, 3, 8, closed)):
        assert isinstance(refused, Refused) and refused.errno == "EINVAL"
    opened = discover_private(SYSFS / "private-v5", cmdline="")
    cache = page_cache_outcome(STOCK_TOPOLOGY, v4, 3, 8, opened)  # patch 13: no __GFP_PRIVATE
    assert isinstance(cache, BindFull) and cache.to_json()["signal"] == "SIGKILL"


def test_mixed_masks_readback_is_the_profiles_answer() -> None:
    mixed = Policy(Mode.MPOL_PREFERRED_MANY, frozenset({0, 2}))
    v5 = policy_gate(mixed, 2, load_profile("private-v5").private, None)
    assert isinstance(v5, Policy) and readback(v5) == {"mode": "MPOL_PREFERRED_MANY", "nodes": [0]}
    stock = policy_gate(mixed, 2, STOCK, None)
    assert isinstance(stock, Policy) and readback(stock)["nodes"] == [0, 2]


def test_rfc_v4_serves_mixed_masks_from_public_nodes() -> None:
    v4 = load_profile("private-rfc-v4").private
    bind = Policy(Mode.MPOL_BIND, frozenset({1, 2}))
    # From CPU node 0, 1 and 2 are both at distance 20 in this tree: the stock rule ties,
    # the v4 rule does not (node 2 is in no public zonelist).
    stock = no_pressure_placement(STOCK_TOPOLOGY, bind, 3, 0, 0)
    public = no_pressure_placement(STOCK_TOPOLOGY, bind, 3, 0, 0, rules=v4, private=2)
    assert isinstance(public, ExactPages) and public.per_page == (1, 1, 1)
    assert stock.to_json() != public.to_json()


def test_leak_expectations_per_provider() -> None:
    fence_rules = load_profile("cpuset-fence").private
    fence = leak_in_expectation("cpuset-fence", fence_rules, 2, ("slab",), 2048)
    assert fence.kind == "isolated" and fence.counters == USER_COUNTERS
    assert fence.violations({"anon": 0, "slab": 40}) == []  # kernel side: reported only
    assert fence.violations({"anon": 3})
    series = leak_in_expectation("kernel", load_profile("private-v5").private, 2, ("anon",), 2048)
    assert series.violations({"slab": 1})  # the series promises kernel allocations too
    control = leak_in_expectation("unprotected", STOCK, 2, ("anon",), 2048)
    assert control.kind == "negative-control" and control.min_pages == 512
    assert control.violations({"anon": 0, "slab": 99})  # only the workload's own counters
    assert control.violations({"anon": 12})  # a few pages above the floor prove nothing
    assert control.violations({"anon": 600}) == []
    assert "detector" in control.to_json()["constraint"]  # type: ignore[operator]


def test_allocations_the_node_served_are_a_leak_even_when_freed() -> None:
    # leaks-in-node2-ksm-merge, stock 7.3 private-unprotected: ksmd merged the spilled
    # copies away (14 anon pages left of the 32 asked), node 2 had served 2,645 allocations.
    v4 = load_profile("private-rfc-v4").private
    assert "allocations" in v4.isolated_counters
    series = leak_in_expectation("kernel", v4, 2, ("anon", "allocations"), 128)
    assert series.violations({"anon": 0, "allocations": 3})
    assert series.violations({"anon": 0, "allocations": 0}) == []
    control = leak_in_expectation("unprotected", STOCK, 2, ("anon", "allocations"), 128)
    assert control.violations({"anon": 14, "allocations": 0})
    assert control.violations({"anon": 14, "allocations": 2645}) == []


def test_the_idle_noise_on_the_private_node_is_bounded() -> None:
    v4 = load_profile("private-rfc-v4").private
    bound = noise_bound("kernel", v4, 2)
    assert bound.pages == v4.noise_floor_pages
    assert bound.violations({"anon": 0, "slab": v4.noise_floor_pages}) == []
    assert bound.violations({"slab": v4.noise_floor_pages + 1})
    assert noise_bound("unprotected", v4, 2).pages == STOCK.noise_floor_pages


@pytest.mark.parametrize("name", PROFILES)
def test_private_profiles_inherit_mainlines_gates_and_tolerances(name: str) -> None:
    profile, mainline = load_profile(name), load_profile("mainline")
    assert profile.features == mainline.features
    assert profile.tolerances == mainline.tolerances
    assert profile.unsupported_reason("MPOL_WEIGHTED_INTERLEAVE", "6.1.0") is not None


def test_extends_lays_a_profile_over_its_base(tmp_path: Path) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text(
        'name = "mine"\nextends = "mainline"\n[features]\nMPOL_PREFERRED_MANY = "6.0"\n'
        "[tolerances]\ntask_interleave_pages = 9\n"
    )
    profile = load_profile(str(mine))
    assert profile.features["MPOL_PREFERRED_MANY"] == "6.0"
    assert profile.features["MPOL_WEIGHTED_INTERLEAVE"] == "6.9"
    assert profile.tolerance("task_interleave_pages") == 9
    assert profile.private.profile == "mine"
    loop = tmp_path / "loop.toml"
    loop.write_text(f'name = "loop"\nextends = "{loop}"\n')
    with pytest.raises(ProfileError, match="loop"):
        load_profile(str(loop))


def test_a_relative_extends_is_taken_from_the_profiles_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not from the working folder: a profile and the file it extends move together."""
    folder = tmp_path / "profiles"
    (folder / "common").mkdir(parents=True)
    (folder / "base.toml").write_text(
        'name = "base"\nextends = "mainline"\n[tolerances]\ntask_interleave_pages = 7\n'
    )
    (folder / "common" / "deep.toml").write_text(
        'name = "deep"\nextends = "../base.toml"\n[features]\nMPOL_PREFERRED_MANY = "6.0"\n'
    )
    for extends in ("./base.toml", "base.toml"):
        (folder / "mine.toml").write_text(f'name = "mine"\nextends = "{extends}"\n')
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir(exist_ok=True)
        (elsewhere / "base.toml").write_text('name = "wrong"\n')  # what the cwd would give
        monkeypatch.chdir(elsewhere)
        profile = load_profile(str(folder / "mine.toml"))
        assert profile.name == "mine" and profile.tolerance("task_interleave_pages") == 7
        assert profile.features["MPOL_WEIGHTED_INTERLEAVE"] == "6.9"  # base's base: mainline
    # A chain of relative paths, each from its own file's folder, the first given relative.
    (folder / "mine.toml").write_text('name = "mine"\nextends = "common/deep.toml"\n')
    monkeypatch.chdir(tmp_path)
    profile = load_profile("profiles/mine.toml")
    assert profile.features["MPOL_PREFERRED_MANY"] == "6.0"
    assert profile.tolerance("task_interleave_pages") == 7


def test_an_extends_that_leads_nowhere_names_the_file_and_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text('name = "mine"\nextends = "base.toml"\n')
    monkeypatch.chdir(tmp_path.parent)
    with pytest.raises(ProfileError) as raised:
        load_profile(str(mine))
    assert str(raised.value) == (
        f"profile {mine}: extends = 'base.toml', but there is no file {tmp_path / 'base.toml'};"
        " a path in extends is taken from the folder of the profile that says it"
    )
    mine.write_text('name = "mine"\nextends = "mainlin"\n')
    with pytest.raises(ProfileError, match="extends = 'mainlin', which is no shipped profile"):
        load_profile(str(mine))


@pytest.mark.parametrize("name", ["mainline", *PROFILES])
def test_a_standalone_copy_is_the_same_profile(name: str, tmp_path: Path) -> None:
    copy = tmp_path / "profile.toml"
    copy.write_text(standalone_toml(name))
    assert "extends" not in copy.read_text()
    assert load_profile(str(copy)) == load_profile(name)


def test_a_standalone_copy_keeps_every_kind_of_value(tmp_path: Path) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text(
        'name = "quote \\" and \\u00e9 and \\u007f"\ndescription = """two\nlines"""\n'
        'extends = "mainline"\n[private]\nmempolicy_gate = "always"\nset_mempolicy = "allowed"\n'
        'bind_full = "oom"\nmigrate_onto = "allowed"\npage_cache = "fallback"\n'
        'interfaces = []\ndrop_modes = ["MPOL_INTERLEAVE"]\nnoise_floor_pages = 12\n'
    )
    copy = tmp_path / "copy" / "profile.toml"
    copy.parent.mkdir()
    copy.write_text(standalone_toml(str(mine)))
    assert load_profile(str(copy)) == load_profile(str(mine))


@pytest.mark.parametrize("name", known_profiles())
def test_every_shipped_profile_loads(name: str) -> None:
    assert load_profile(name).name == name


@pytest.mark.parametrize(
    ("text", "key", "at"),
    [
        ('name = "x"\nextends = "mainline"\ntolerance = 3\n', "tolerance", "at the top level"),
        ('name = "x"\nextend = "mainline"\n', "extend", "at the top level"),
        (
            'name = "x"\nextends = "cpuset-fence"\n[private]\nmixed_mask = "nearest"\n',
            "mixed_mask",
            "in [private]",
        ),
        (
            'name = "x"\nextends = "mainline"\n[tolerances]\ntask_interleave_page = 9\n',
            "task_interleave_page",
            "in [tolerances] (the names mainline.toml gives)",
        ),
        (
            'name = "x"\n[features]\nMPOL_WEIGHTED_INTERLEAF = "6.9"\n',
            "MPOL_WEIGHTED_INTERLEAF",
            "in [features] (the names mainline.toml gives)",
        ),
    ],
)
def test_an_unknown_profile_key_names_the_file_and_the_keys_allowed_there(
    tmp_path: Path, text: str, key: str, at: str
) -> None:
    """Each was once ignored, so the profile was not what its file said: a tolerance or a
    gate under a misspelt name left mainline's in force."""
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(ProfileError) as raised:
        load_profile(str(bad))
    message = str(raised.value)
    assert message.startswith(f"profile {bad}: unknown key {key!r} {at}; the keys allowed there")
    assert "\n" not in message


def test_every_private_key_the_rules_read_is_allowed(tmp_path: Path) -> None:
    every = tmp_path / "every.toml"
    every.write_text(
        'name = "every"\n[private]\nseries = "s"\ninterfaces = ["has_public_memory"]\n'
        'drop_modes = []\nmempolicy_gate = "always"\nset_mempolicy = "allowed"\n'
        'mixed_masks = "public-first"\nbind_full = "oom"\nmigrate_onto = "cap:user"\n'
        'migrate_refused = "EPERM"\npage_cache = "allowed"\nisolated_counters = ["anon"]\n'
        'noise_floor_pages = 3\nverified = "v"\n'
    )
    rules = load_profile(str(every)).private
    assert (rules.mixed_masks, rules.migrate_refused, rules.noise_floor_pages) == (
        "public-first",
        "EPERM",
        3,
    )
    assert set(PRIVATE_KEYS) == set(tomllib.loads(every.read_text())["private"])  # all of them
