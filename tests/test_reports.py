"""Reading result documents and the tables made from them, against recorded documents."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from reports.results import Outcome, RunDocument, Verdict, column_label, load
from reports.table import column_labels, describe_outcome, failures_section, markdown_table
from vm.errors import UserError

RESULTS = Path(__file__).parent / "data" / "results"
DEBIAN_61 = RESULTS / "debian-6.1.0-56-default.json"
DEBIAN_612 = RESULTS / "debian-6.12.57-default.json"
PRIVATE_V5 = RESULTS / "private-v5-6.19-rc4-private.json"


@pytest.fixture(scope="module")
def runs() -> list[RunDocument]:
    return [load(DEBIAN_61), load(DEBIAN_612), load(PRIVATE_V5)]


def parse_table(markdown: str) -> tuple[list[str], dict[str, list[str]]]:
    """The header and the rows (case id -> cells) of the first Markdown table in the text."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    header, _separator, *body = (
        [cell.strip() for cell in line.strip("|").split("|")] for line in lines
    )
    rows = {cells[0]: cells[1:] for cells in body}
    assert len(rows) == len(body), "a case id appears in two rows"
    return header, rows


# --- reading -----------------------------------------------------------------------------


def test_load_gives_typed_records(runs: list[RunDocument]) -> None:
    old, new, private = runs
    assert old.kernel.release == "6.1.0-56-amd64"
    assert [node.kind for node in old.topology.nodes] == ["normal", "normal", "cpuless"]
    assert old.topology.nodes[2].cpus == ()
    assert old.topology.nodes[0].distances == {0: 10, 1: 20, 2: 20}
    interleave = old.cases[2]
    assert interleave.id == "placement-mbind-interleave-nodes0,1"
    assert interleave.expected == Outcome(pages={0: 128, 1: 128})
    assert interleave.params == {
        "api": "mbind",
        "mode": "MPOL_INTERLEAVE",
        "nodes": [0, 1],
        "mapping": "anon_private",
        "pages": 256,
    }
    assert old.cases[5].verdict is Verdict.UNSUPPORTED and old.cases[5].expected is None
    assert new.run.boot_s == 4.1 and new.host.accel == "kvm"
    assert private.kernel.config_hash is None
    assert private.run.status == "crashed"
    assert private.run.console_findings[0].startswith("WARNING: CPU: 1 PID: 412")


def test_unknown_outcome_keys_are_kept(runs: list[RunDocument]) -> None:
    negative_control = runs[0].cases[8]
    assert negative_control.observed is not None
    assert negative_control.observed.other == {"leak_in_pages": {"2": 4021}}


def test_column_label_names_profile_only_when_not_mainline(runs: list[RunDocument]) -> None:
    assert column_label(runs[0]) == "6.1.0-56-amd64 · default"
    assert column_label(runs[2]) == "6.19.0-rc4-private-v5+ · private · private-v5"


def test_a_profile_nothing_verified_says_so_in_its_column(runs: list[RunDocument]) -> None:
    """v5 and the features design are written from descriptions: every column says so."""
    doc = runs[2]
    unverified = dataclasses.replace(doc, run=dataclasses.replace(doc.run, profile_verified=""))
    assert column_label(unverified).endswith("private-v5 (unverified)")
    verified = dataclasses.replace(doc, run=dataclasses.replace(doc.run, profile_verified="x"))
    assert column_label(verified).endswith("· private-v5")


def write_variant(tmp_path: Path, change: dict[str, object], name: str = "run.json") -> Path:
    document = json.loads(DEBIAN_61.read_text(encoding="utf-8"))
    document.update(change)
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@pytest.mark.parametrize(("schema", "shown"), [(2, "2"), ("1", '"1"'), (True, "true")])
def test_unknown_schema_is_refused_in_one_line(tmp_path: Path, schema: object, shown: str) -> None:
    path = write_variant(tmp_path, {"schema": schema}, "from-the-future.json")
    with pytest.raises(UserError) as refused:
        load(path)
    message = str(refused.value)
    assert "\n" not in message
    assert message == (
        f"{path}: result schema version {shown} is not supported (this reader supports version 1)"
    )


def test_missing_schema_is_refused(tmp_path: Path) -> None:
    document = json.loads(DEBIAN_61.read_text(encoding="utf-8"))
    del document["schema"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(UserError, match=r"old\.json: result schema version none is not supp"):
        load(path)


def test_missing_key_is_named(tmp_path: Path) -> None:
    kernel = json.loads(DEBIAN_61.read_text(encoding="utf-8"))["kernel"]
    del kernel["release"]
    path = write_variant(tmp_path, {"kernel": kernel})
    with pytest.raises(UserError, match=r"run\.json: kernel\.release: missing required key$"):
        load(path)


def test_unknown_verdict_is_named_with_its_place(tmp_path: Path) -> None:
    cases = json.loads(DEBIAN_61.read_text(encoding="utf-8"))["cases"]
    cases[3]["verdict"] = "passed"
    with pytest.raises(UserError) as refused:
        load(write_variant(tmp_path, {"cases": cases}))
    assert str(refused.value).endswith(
        "cases[3].verdict: 'passed' is not a verdict (pass, fail, skip, error, unsupported)"
    )


def test_duplicate_case_id_is_refused(tmp_path: Path) -> None:
    cases = json.loads(DEBIAN_61.read_text(encoding="utf-8"))["cases"]
    with pytest.raises(UserError, match=r"cases\[10\]\.id: 'placement-mbind-bind-node0' appears"):
        load(write_variant(tmp_path, {"cases": [*cases, cases[0]]}))


def test_pages_must_be_keyed_by_node_id(tmp_path: Path) -> None:
    cases = json.loads(DEBIAN_61.read_text(encoding="utf-8"))["cases"]
    cases[0]["observed"] = {"pages": {"node0": 256}}
    with pytest.raises(UserError, match=r"cases\[0\]\.observed\.pages: must map node ids"):
        load(write_variant(tmp_path, {"cases": cases}))


def test_broken_json_is_refused_with_its_position(tmp_path: Path) -> None:
    path = tmp_path / "truncated.json"
    path.write_text(DEBIAN_61.read_text(encoding="utf-8")[:500], encoding="utf-8")
    with pytest.raises(UserError, match=r"truncated\.json: not valid JSON: .* at line \d+"):
        load(path)


# --- the table ---------------------------------------------------------------------------


def test_one_row_per_case_in_first_seen_order(runs: list[RunDocument]) -> None:
    header, rows = parse_table(markdown_table(runs))
    assert header == ["case", *map(column_label, runs)]
    first_run_ids = [case.id for case in runs[0].cases]
    assert list(rows) == [
        *first_run_ids,
        "errors-set_mempolicy_home_node-einval-interleave",  # new in the second run
        "private-mbind-bind-node2",
        "private-mbind-interleave-nodes0,2",
        "private-set_mempolicy-preferred-node2",
        "private-isolation-default-policy-under-pressure-node2",
    ]


def test_same_case_lines_up_across_runs(runs: list[RunDocument]) -> None:
    _header, rows = parse_table(markdown_table(runs))
    assert rows["placement-mbind-bind-node0"] == ["pass", "pass", "pass"]
    assert rows["placement-mbind-preferred-node2"] == ["pass", "FAIL", "—"]
    assert rows["placement-mbind-weighted_interleave-nodes0,1"] == ["unsupported", "pass", "—"]
    assert rows["migration-move_pages-node2"] == ["ERROR", "pass", "—"]
    assert rows["private-set_mempolicy-preferred-node2"] == ["—", "—", "FAIL"]


def test_case_absent_from_a_run_shows_a_dash(runs: list[RunDocument]) -> None:
    _header, rows = parse_table(markdown_table(runs))
    assert rows["flags-mbind-static_nodes-node3"] == ["skip", "—", "—"]
    assert rows["errors-set_mempolicy_home_node-einval-interleave"] == ["—", "pass", "—"]


def test_totals_count_each_verdict_per_column(runs: list[RunDocument]) -> None:
    markdown = markdown_table(runs)
    totals = markdown.split("Totals per column:")[1].strip().splitlines()
    assert totals == [
        "- 6.1.0-56-amd64 · default: 7 pass, 0 FAIL, 1 skip, 1 ERROR, 1 unsupported, 5 absent (—)",
        "- 6.12.57+deb13-amd64 · default: 9 pass, 1 FAIL, 0 skip, 0 ERROR, 0 unsupported,"
        " 5 absent (—)",
        "- 6.19.0-rc4-private-v5+ · private · private-v5: 3 pass, 1 FAIL, 0 skip, 1 ERROR,"
        " 0 unsupported, 10 absent (—)",
    ]
    # The totals agree with the cells of the table they sit under.
    _header, rows = parse_table(markdown)
    second_column = [cells[1] for cells in rows.values()]
    assert second_column.count("pass") == 9 and second_column.count("—") == 5


def test_repeated_labels_get_a_suffix(runs: list[RunDocument]) -> None:
    header, rows = parse_table(markdown_table([runs[0], runs[1], runs[0], runs[0]]))
    assert header[1:] == [
        "6.1.0-56-amd64 · default",
        "6.12.57+deb13-amd64 · default",
        "6.1.0-56-amd64 · default #2",
        "6.1.0-56-amd64 · default #3",
    ]
    assert rows["placement-mbind-preferred-node2"] == ["pass", "FAIL", "pass", "pass"]


def test_pipe_in_a_case_id_does_not_split_the_row(runs: list[RunDocument]) -> None:
    odd_case = dataclasses.replace(runs[0].cases[0], id="placement-a|b")
    run = dataclasses.replace(runs[0], cases=(odd_case,))
    assert "| placement-a\\|b | pass" in markdown_table([run])


# --- why it failed -----------------------------------------------------------------------


def test_failures_show_expected_against_observed(runs: list[RunDocument]) -> None:
    lines = failures_section(runs).splitlines()
    assert lines[0] == "## Failures and errors"
    preferred = next(line for line in lines if "`placement-mbind-preferred-node2`" in line)
    assert preferred.startswith(
        "- **FAIL** `placement-mbind-preferred-node2` on 6.12.57+deb13-amd64 · default:"
        " expected `N2=256`, observed `N0=200 N2=56`. MPOL_PREFERRED without memory pressure"
    )
    private = next(line for line in lines if "`private-set_mempolicy-preferred-node2`" in line)
    assert "expected `EINVAL`, observed `N2=256`" in private
    migration = next(line for line in lines if "`migration-move_pages-node2`" in line)
    assert "**ERROR**" in migration and "observed `SIGKILL`" in migration
    assert "the OOM killer choosing it" in migration  # the writer's newline is folded away


def test_failures_leave_out_passes_and_name_crashed_runs(runs: list[RunDocument]) -> None:
    section = failures_section(runs)
    assert "placement-mbind-bind-node0" not in section
    assert "flags-mbind-static_nodes-node3" not in section  # a skip is not a failure
    assert (
        "- 6.19.0-rc4-private-v5+ · private · private-v5: run crashed; console: WARNING: CPU: 1"
        in section
    )


def test_failures_section_says_so_when_nothing_failed(runs: list[RunDocument]) -> None:
    passing = dataclasses.replace(runs[0], cases=runs[0].cases[:5])
    assert failures_section([passing]).splitlines()[-1] == "No case failed or errored."


@pytest.mark.parametrize(
    ("outcome", "text"),
    [
        (Outcome(pages={2: 56, 0: 200}), "N0=200 N2=56"),
        (Outcome(pages={}), "no pages"),
        (Outcome(errno="EINVAL"), "EINVAL"),
        (Outcome(constraint="all pages within", nodes=(1, 2)), "all pages within N1,N2"),
        (
            Outcome(pages={2: 4107}, other={"leak_in_pages": {"2": 4021}}),
            'N2=4107, leak_in_pages={"2":4021}',
        ),
        (None, "—"),
    ],
)
def test_outcomes_are_compact(outcome: Outcome | None, text: str) -> None:
    assert describe_outcome(outcome) == text


def test_column_labels_match_the_table_header(runs: list[RunDocument]) -> None:
    header, _rows = parse_table(markdown_table(runs))
    assert column_labels(runs) == header[1:]
