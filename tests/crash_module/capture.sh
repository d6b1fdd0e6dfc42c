#!/bin/sh
# Capture a real kernel crash during a case, for the crash-path fixtures:
#   tests/crash_module/capture.sh oops|warn|panic [CASE-ID-PART] [RESULTS-DIR]
# Builds crashme.ko against Debian's 6.12 headers (cached under ~/.cache), boots Debian's
# 6.12 kernel with the default topology and runs a few placement cases, loading the module
# during the named one. Needs the host packages `python -m vm` installs, plus gcc-12, make.
set -eu
action=${1:?oops, warn or panic}
case_part=${2:-bind-node1}
results=${3:-/tmp/crash-capture-$action}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
release=6.12.117+deb12
cache=${XDG_CACHE_HOME:-$HOME/.cache}/mempolicy-conformance/headers/$release
headers=$cache/usr/src/linux-headers-$release-amd64

if [ ! -f "$headers/Makefile" ]; then
    mkdir -p "$cache" && cd "$cache"
    apt-get download "linux-headers-$release-amd64" "linux-headers-$release-common" \
        "linux-kbuild-$release"
    for deb in ./*.deb; do dpkg -x "$deb" .; done
    rm -f ./*.deb
    # The package's Makefile includes the common tree by its installed, absolute path.
    sed -i "s#/usr/src/#$cache/usr/src/#" "$headers/Makefile"
fi
# BTF for modules needs pahole, which the guest does not care about.
make -C "$headers" M="$here" CONFIG_DEBUG_INFO_BTF_MODULES= modules

cd "$repo"
python3 -m vm run --kernel debian:6.12 --results "$results" -- \
    -k "placement and bind" -p tests.crash_module.inject \
    --crash-case="$case_part" --crash-action="$action"
