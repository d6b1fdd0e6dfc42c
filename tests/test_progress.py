"""Progress lines: the guest's KTAP stream counted, live only on a terminal."""

import io
from pathlib import Path

from vm.progress import Progress, ktap_counts

STREAM = "KTAP version 1\n1..4\nok 1 a\n# reason\nnot ok 2 b\nok 3 c # SKIP unsupported: x\n"


def test_ktap_counts() -> None:
    assert ktap_counts(STREAM) == (3, 4, 1)
    assert ktap_counts("") == (0, None, 0)


def test_ci_output_is_one_line_per_phase(tmp_path: Path) -> None:
    out = io.StringIO()
    progress = Progress(out, live=False)
    progress.phase("kernel: debian:6.1")
    (tmp_path / "results.ktap").write_text(STREAM)
    progress.guest_tick(tmp_path / "results.ktap")
    progress.phase("guest: ok")
    assert out.getvalue() == "kernel: debian:6.1\nguest: ok\n"


def test_terminal_output_redraws_one_line(tmp_path: Path) -> None:
    out = io.StringIO()
    progress = Progress(out, live=True)
    ktap = tmp_path / "results.ktap"
    progress.guest_tick(ktap)
    ktap.write_text(STREAM)
    progress.guest_tick(ktap)
    progress.phase("guest: ok")
    text = out.getvalue()
    assert text.startswith("\r  booting, 0 not ok")
    assert "\r  matrix 3/4, 1 not ok" in text
    assert text.endswith("\nguest: ok\n")
