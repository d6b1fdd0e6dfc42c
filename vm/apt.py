"""apt, either the host's or one of the suite's own, for fetching Debian packages by name.

The host's apt knows only the host's suites. Another suite (sid, trixie-backports) gets an
apt configuration of its own under the cache: a sources.list naming only that suite, and
lists and caches beside it, passed to apt-get and apt-cache as `-o` options. The host's
/etc/apt is never touched, and a metapackage such as linux-image-amd64 resolves in that
suite alone. Which suites exist is data (kernel_sources.toml, table `suites`).
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vm.errors import InfraError, UserError
from vm.host import run_apt_get

# As root, apt-get drops to the _apt user, which cannot write the cache dir.
APT_SANDBOX_AS_ROOT = ("-o", "APT::Sandbox::User=root")


@dataclass(frozen=True)
class AptSuite:
    """One Debian suite, reached with an apt configuration of its own."""

    name: str  # as kernel_sources.toml names it, e.g. "trixie-backports"
    uri: str  # the archive, e.g. http://deb.debian.org/debian
    suite: str  # the Release name in the archive: sid, trixie-backports
    components: tuple[str, ...]  # e.g. ("main",)
    keyring: str  # the keyring that signs the suite's Release file (signed-by)

    def sources_line(self) -> str:
        return f"deb [signed-by={self.keyring}] {self.uri} {self.suite} {' '.join(self.components)}"


def load_suites(data: Mapping[str, Any]) -> dict[str, AptSuite]:
    """The `suites` table of kernel_sources.toml."""
    return {
        name: AptSuite(
            name=name,
            uri=entry["uri"],
            suite=entry["suite"],
            components=tuple(entry["components"]),
            keyring=entry["keyring"],
        )
        for name, entry in data.get("suites", {}).items()
    }


@dataclass(frozen=True)
class Apt:
    """apt-get and apt-cache with the options that select one configuration."""

    label: str  # for messages: "the host's apt" or "apt for trixie-backports"
    options: tuple[str, ...]  # given to both apt-get and apt-cache; empty for the host's apt

    def cache(self, arguments: Sequence[str]) -> str:
        """apt-cache's output; empty when it knows nothing (it exits 100 for an unknown name)."""
        try:
            result = subprocess.run(
                ["apt-cache", *self.options, *arguments],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise InfraError(f"apt-cache {' '.join(arguments)} failed: {error}") from None
        return result.stdout if result.returncode == 0 else ""

    def update(self, *, log_file: Path) -> None:
        run_apt_get("apt-get", ("-q", *self.options, "update"), log_file=log_file)

    def download(self, package: str, *, into: Path, log_file: Path) -> None:
        sandbox = () if "APT::Sandbox::User=root" in self.options else APT_SANDBOX_AS_ROOT
        run_apt_get(
            "apt-get",
            ("-q", *sandbox, *self.options, "download", package),
            log_file=log_file,
            cwd=into,
        )

    def candidate(self, package: str) -> str | None:
        """The version apt would fetch of `package`, or None when it knows none."""
        for line in self.cache(["policy", package]).splitlines():
            key, _, value = line.strip().partition(":")
            if key == "Candidate":
                version = value.strip()
                return None if version in ("", "(none)") else version
        return None


HOST_APT = Apt(label="the host's apt", options=())


def suite_options(apt_dir: Path) -> tuple[str, ...]:
    """The -o options that make apt use only the configuration in `apt_dir`."""
    return (
        "-o", f"Dir::Etc::sourcelist={apt_dir / 'sources.list'}",
        "-o", "Dir::Etc::sourceparts=-",
        "-o", f"Dir::State::Lists={apt_dir / 'lists'}",
        "-o", f"Dir::Cache={apt_dir / 'cache'}",
        "-o", "Dir::State::status=/var/lib/dpkg/status",
        *APT_SANDBOX_AS_ROOT,
    )  # fmt: skip


def apt_for(suite: AptSuite | None, *, cache_dir: Path) -> Apt:
    """The host's apt for None, else an apt configuration of the suite's own in
    cache_dir/apt/<name>, written (or rewritten, when the data changed) here."""
    if suite is None:
        return HOST_APT
    if not Path(suite.keyring).is_file():
        raise UserError(
            f"the keyring of suite {suite.name} is missing: {suite.keyring} "
            "(install debian-archive-keyring, or fix the suite's keyring in kernel_sources.toml)"
        )
    apt_dir = cache_dir / "apt" / suite.name
    for folder in ("lists/partial", "cache/archives/partial"):
        (apt_dir / folder).mkdir(parents=True, exist_ok=True)
    sources = apt_dir / "sources.list"
    text = suite.sources_line() + "\n"
    if not sources.is_file() or sources.read_text() != text:
        sources.write_text(text)
    return Apt(label=f"apt for {suite.name}", options=suite_options(apt_dir))
