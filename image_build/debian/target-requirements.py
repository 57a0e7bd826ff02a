"""Print `name==version` for each dependency in a `pip install --dry-run --report` file, except the ones the
target gets from Debian instead (pyscard publishes no aarch64 wheel; python3-pyscard stands in for it)."""

import json
import sys
from pathlib import Path

FROM_DEBIAN = {"borderpost", "pyscard"}

report = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
print(" ".join(f"{i['metadata']['name']}=={i['metadata']['version']}" for i in report["install"]
               if i["metadata"]["name"].lower() not in FROM_DEBIAN))
