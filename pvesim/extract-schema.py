#!/usr/bin/env python3
"""Extract the Proxmox VE API schema subset used by the pvesim simulator.

Usage:
    pvesim/extract-schema.py [APIDATA_JSON] [OUTPUT_JSON]

Defaults: /work/shared/pve/apidata.json -> pvesim/testdata/pve-schema-subset.json

APIDATA_JSON is the apidata.js tree of pve-docs converted to JSON: a list of
nodes {path, text, info: {METHOD: {...}}, children: [...]}. The output keeps,
for every path listed in PATHS, all of its methods with their parameter and
return schemas, minus documentation-only keys (descriptions, type texts,
renderers) so that the committed file stays small and diff-friendly.

The simulator embeds the output (go:embed) and validates requests against it;
tests never read /work/shared.
"""
import hashlib
import json
import os
import sys

# Every route the simulator serves must be listed here (the conformance test
# checks it), plus a few the client code may call and that CheckRequest should
# know about. None = all methods of the path; otherwise only the listed ones
# (the huge VM-create and backup-job-create schemas are left out on purpose).
PATHS = [
    ("/version", None),
    ("/cluster/resources", None),
    ("/cluster/status", None),
    ("/cluster/nextid", None),
    ("/cluster/ha/resources", None),
    ("/cluster/ha/resources/{sid}", None),
    ("/cluster/backup", ["GET"]),
    ("/nodes", None),
    ("/nodes/{node}/status", None),
    ("/nodes/{node}/qemu", ["GET"]),
    ("/nodes/{node}/qemu/{vmid}", None),
    ("/nodes/{node}/qemu/{vmid}/config", ["GET", "PUT"]),
    ("/nodes/{node}/qemu/{vmid}/status", None),
    ("/nodes/{node}/qemu/{vmid}/status/current", None),
    ("/nodes/{node}/qemu/{vmid}/status/shutdown", None),
    ("/nodes/{node}/qemu/{vmid}/status/start", None),
    ("/nodes/{node}/qemu/{vmid}/status/stop", None),
    ("/nodes/{node}/storage", None),
    ("/nodes/{node}/storage/{storage}/status", None),
    ("/nodes/{node}/storage/{storage}/content", None),
    ("/nodes/{node}/storage/{storage}/content/{volume}", None),
    ("/nodes/{node}/tasks", None),
    ("/nodes/{node}/tasks/{upid}", None),
    ("/nodes/{node}/tasks/{upid}/status", None),
    ("/nodes/{node}/tasks/{upid}/log", None),
]

DROP_KEYS = {
    "description",
    "verbose_description",
    "typetext",
    "renderer",
    "format_description",
    "print_width",
    "title",
    "completion",
}


def strip(obj):
    if isinstance(obj, dict):
        return {k: strip(v) for k, v in sorted(obj.items()) if k not in DROP_KEYS}
    if isinstance(obj, list):
        return [strip(v) for v in obj]
    return obj


def index(nodes, out):
    for n in nodes:
        out[n["path"]] = n
        index(n.get("children") or [], out)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    src = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/pve/apidata.json"
    dst = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        here, "..", "pvesim", "testdata", "pve-schema-subset.json")

    with open(src, "rb") as fh:
        raw = fh.read()
    tree = json.loads(raw)
    idx = {}
    index(tree, idx)

    routes = []
    missing = []
    for p, only in PATHS:
        node = idx.get(p)
        if node is None:
            missing.append(p)
            continue
        methods = {}
        for m, info in sorted((node.get("info") or {}).items()):
            if only is not None and m not in only:
                continue
            keep = {k: info[k] for k in ("name", "method", "parameters", "returns",
                                         "proxyto", "protected", "allowtoken")
                    if k in info}
            methods[m] = strip(keep)
        routes.append({"path": p, "methods": methods})
    if missing:
        sys.exit("paths not found in %s: %s" % (src, ", ".join(missing)))

    out = {
        "source": os.path.basename(src),
        "source_sha256": hashlib.sha256(raw).hexdigest(),
        "generator": "pvesim/extract-schema.py",
        "routes": routes,
    }
    with open(dst, "w") as fh:
        json.dump(out, fh, indent=1, sort_keys=True)
        fh.write("\n")
    print("wrote %d routes to %s" % (len(routes), dst))


if __name__ == "__main__":
    main()
