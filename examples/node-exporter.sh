#!/bin/sh
# node-exporter.sh: publish a mounted llmfs's metrics through the
# Prometheus node exporter's textfile collector.
#
#   examples/node-exporter.sh MOUNT DIR
#
# Copies MOUNT/stats/prometheus to DIR/llmfs.prom, DIR being the textfile
# collector's directory (node_exporter --collector.textfile.directory=DIR;
# /var/lib/prometheus/node-exporter in Debian's package).  The copy is written
# to a temporary file in DIR and renamed, so the collector never reads half
# a file.  Run it from cron, e.g. every minute:
#
#   * * * * * /path/to/examples/node-exporter.sh /home/me/llm /var/lib/prometheus/node-exporter
#
# If the mount is gone, the old file is removed rather than left stale.
set -eu

if [ $# -ne 2 ]; then
    echo "usage: node-exporter.sh MOUNT DIR (the textfile collector's directory," >&2
    echo "       /var/lib/prometheus/node-exporter with Debian's node exporter)" >&2
    exit 2
fi
mount=$1
dir=$2
out=$dir/llmfs.prom
if [ ! -r "$mount/stats/prometheus" ]; then
    rm -f "$out"
    echo "node-exporter.sh: $mount: not an llmfs mount" >&2
    exit 1
fi
tmp=$(mktemp "$dir/.llmfs.prom.XXXXXX")
trap 'rm -f "$tmp"' EXIT
cat "$mount/stats/prometheus" > "$tmp"
chmod 644 "$tmp"
mv "$tmp" "$out"
