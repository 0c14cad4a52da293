#!/usr/bin/env bash
# make cluster-down: stops what cluster-up started (by the pids it recorded), removes the pods'
# containers, the mounts under .cluster/, the bridge and route, the iptables rules and chains the
# engine and kube-proxy added, and puts changed sysctls back. Keeps the build cache (Kubernetes
# binaries, base images, the engine's layers). Safe to run twice, or after a failed cluster-up.
source "$(dirname "$0")/lib.sh"
SW_STEP_PREFIX=cluster-down
need_root
DOCKER=/usr/bin/docker
export DOCKER_HOST=unix://$DOCKER_SOCK
[ -d "$STATE" ] || { step "nothing to stop ($STATE does not exist)"; exit 0; }

# stop SECONDS NAME...: SIGTERM the recorded pids together, SIGKILL what is left after the deadline.
stop() {
  local wait_s=$1 name pid deadline; shift
  local -A pids=()
  for name in "$@"; do
    [ -f "$STATE/pids/$name.pid" ] || continue
    pid=$(cat "$STATE/pids/$name.pid")
    if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; pids[$name]=$pid; fi
    rm -f "$STATE/pids/$name.pid"
  done
  deadline=$(( $(date +%s) + wait_s ))
  for name in "${!pids[@]}"; do
    pid=${pids[$name]}
    while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; step "$name: killed (pid $pid)"; else step "$name: stopped (pid $pid)"; fi
  done
}

# The kubelet first, so it recreates nothing; then every container of the engine (pods, builds).
stop 15 kubelet
if alive "$STATE/pids/dockerd.pid" && "$DOCKER" info >/dev/null 2>&1; then
  ids=$("$DOCKER" ps -aq)
  if [ -n "$ids" ]; then
    step "removing $(echo "$ids" | wc -l) containers"
    # shellcheck disable=SC2086
    "$DOCKER" rm -f $ids >/dev/null 2>&1 || true
  fi
fi
stop 15 kube-proxy kube-scheduler kube-controller-manager dns-sync dnsmasq
stop 15 kube-apiserver
stop 15 etcd
stop 30 dockerd

# Mounts left under the state and engine directories (pod volumes, network namespaces, overlays).
mounts=$(awk -v s="$STATE/" -v c="$CACHE/docker/" 'index($2, s) == 1 || index($2, c) == 1 { print $2 }' /proc/mounts | sort -r)
if [ -n "$mounts" ]; then
  step "unmounting $(echo "$mounts" | wc -l) mounts"
  while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done <<< "$mounts"
fi

# iptables: rules that jump to, and chains named like, what docker and kube-proxy/kubelet create,
# except chains that existed before the first cluster-up (recorded in iptables-chains.before).
before=$STATE/iptables-chains.before
removed=0
for table in filter nat mangle; do
  chains=$(iptables -t "$table" -S 2>/dev/null | awk '$1 == "-N" && ($2 ~ /^DOCKER/ || $2 ~ /^KUBE-/) { print $2 }' \
    | grep -vxF -f <(grep "^$table " "$before" 2>/dev/null | cut -d' ' -f2; echo '#none#') || true)
  [ -n "$chains" ] || continue
  pattern=$(echo "$chains" | paste -sd'|')
  # Rules in other chains that jump to ours, and the engine's masquerade rule for the bridge.
  while read -r rule; do
    [ -n "$rule" ] || continue
    eval "iptables -t $table -D ${rule#-A }" 2>/dev/null && removed=$((removed + 1)) || true
  done < <(iptables -t "$table" -S | grep '^-A ' | grep -Ev "^-A ($pattern) " | grep -E -- "-j ($pattern)( |\$)|$BRIDGE" || true)
  for c in $chains; do iptables -t "$table" -F "$c" 2>/dev/null || true; done
  for c in $chains; do iptables -t "$table" -X "$c" 2>/dev/null && removed=$((removed + 1)) || true; done
done
[ "$removed" -eq 0 ] || step "removed $removed iptables rules and chains"

if ip link show "$BRIDGE" >/dev/null 2>&1; then
  ip link set "$BRIDGE" down 2>/dev/null || true
  ip link del "$BRIDGE" && step "removed bridge $BRIDGE (and the Service route)"
fi
for f in "$STATE"/sysctl.*; do
  [ -f "$f" ] || continue
  key=${f#"$STATE"/sysctl.}
  cat "$f" > "/proc/sys/${key//.//}" && step "sysctl $key back to $(cat "$f")"
  rm -f "$f"
done
# The cluster's own data goes (a later cluster-up starts a fresh one); logs stay for reading.
rm -rf "$STATE"/{etcd,kubelet,pki,dns,docker-exec,kubeconfig,dockerd.own.pid,iptables-chains.before}
step "cluster stopped; build cache kept in $CACHE"
