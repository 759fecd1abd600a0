"""Print an expected.yaml skeleton from a results.json of the lab (to review by hand).

    python tests/lab/make_expected.py OUT/results.json > tests/lab/expected.yaml.new

Every line of the real file is a claim a person checked against the lab profile
(tests/lab/PROFILES.md); this script only saves typing.
"""

from __future__ import annotations

import json
import sys

from cisaudit.catalog import control_sort_key

data = json.load(open(sys.argv[1], encoding="utf-8"))
for target in data["targets"]:
    print(f"{target['name'].removeprefix('lab-')}:")
    for result in sorted(target["results"], key=lambda r: control_sort_key(r["control_id"])):
        print(f'  "{result["control_id"]}": {result["status"]}')
