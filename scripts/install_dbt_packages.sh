#!/usr/bin/env bash
# Installs the dbt packages declared in packages.yml. When the dbt package hub cannot be
# reached (offline machines), installs this project's own stand-in for dbt_utils instead.
set -euo pipefail
cd "$(dirname "$0")/.."
export DBT_SEND_ANONYMOUS_USAGE_STATS=false
if [ -f dbt_packages/dbt_utils/dbt_project.yml ]; then
    exit 0
fi
if timeout 60 dbt deps --quiet >/tmp/audiences-dbt-deps.log 2>&1; then
    echo "dbt packages installed from the package hub."
    exit 0
fi
echo "WARNING: 'dbt deps' could not reach the dbt package hub (see /tmp/audiences-dbt-deps.log)." >&2
echo "WARNING: installing the offline stand-in for dbt_utils from scripts/dbt_utils_standin." >&2
rm -rf dbt_packages/dbt_utils
mkdir -p dbt_packages
cp -R scripts/dbt_utils_standin dbt_packages/dbt_utils
