#!/bin/sh
# Fake merge_config.sh: `-m -O DIR BASE FRAGMENT...`; later files win, as in the real one.
[ "$1" = "-m" ] && shift
[ "$1" = "-O" ] && { out=$2; shift 2; }
cat "$@" > "$out/.config.merged"
mv "$out/.config.merged" "$out/.config"
