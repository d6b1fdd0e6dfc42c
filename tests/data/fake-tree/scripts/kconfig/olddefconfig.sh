#!/bin/sh
# Fake olddefconfig: keep the last value of each known symbol, drop unknown ones.
symbols=$1
config=$2
awk -F= 'NR == FNR { known[$1] = 1; next }
    /^CONFIG_/ && ($1 in known) { value[$1] = $0; if (!($1 in seen)) { order[++n] = $1; seen[$1] = 1 } }
    END { for (i = 1; i <= n; i++) print value[order[i]] }' "$symbols" "$config" > "$config.new"
mv "$config.new" "$config"
