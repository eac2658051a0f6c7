#!/usr/bin/env bash
# Rebuild the shipped sample (every JRA race of 2018) from ../shared/data/jra2018:
# import the original CSVs into a throwaway home, then export it in the canonical format.
set -euo pipefail
cd "$(dirname "$0")/.."
source_dir=${1:-../shared/data/jra2018}
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
.venv/bin/keiba --home "$home" import --format jra2018 "$source_dir"
rm -rf src/keiba/sample_data/jra2018/*.parquet
.venv/bin/keiba --home "$home" export --out src/keiba/sample_data/jra2018
