#!/usr/bin/env bash
# Pack the 2018 JRA data set (results/*.csv, payouts_2018.csv, kaisai_calendar.json, unmodified)
# into tests/data_collector/fixtures/jra2018/jra2018.tar.xz, byte for byte the same on every run:
#   scripts/pack-jra2018-fixture.sh PATH/TO/jra2018
set -euo pipefail
source_dir=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."
out=tests/data_collector/fixtures/jra2018/jra2018.tar.xz
(cd "$source_dir" && ls results/*.csv payouts_2018.csv kaisai_calendar.json) |
  tar -C "$source_dir" --sort=name --owner=0 --group=0 --numeric-owner --mode=a=r,u+w \
    --mtime=2019-01-22T00:00:00Z --format=ustar -cf - --files-from=- |
  xz -9e -T1 >"$out"
ls -l "$out"
