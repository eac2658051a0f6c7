#!/usr/bin/env bash
# Rebuild the shipped sample (every JRA race of 2018) from the original files: the repository's
# tests/data_collector/fixtures/jra2018/jra2018.tar.xz, or a folder holding them given as $1.
# Imports them into a throwaway home, then exports it in the canonical format.
set -euo pipefail
cd "$(dirname "$0")/.."
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
source_dir=${1:-$home/jra2018}
if [ $# -eq 0 ]; then
  mkdir "$source_dir"
  tar -xJf tests/data_collector/fixtures/jra2018/jra2018.tar.xz -C "$source_dir"
fi
.venv/bin/keiba --home "$home" import --format jra2018 "$source_dir"
rm -rf src/keiba/sample_data/jra2018/*.parquet
.venv/bin/keiba --home "$home" export --out src/keiba/sample_data/jra2018
