# shellcheck shell=bash
# Shared by the local-cluster scripts: paths, progress lines, prerequisite checks.
# Everything the cluster writes at run time lives in $STATE (git-ignored .cluster/ in the checkout);
# the Kubernetes build and the base images live in $CACHE, outside the repository, keyed by version.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE=${SW_CLUSTER_STATE:-$REPO/.cluster}
CACHE=${SW_CLUSTER_CACHE:-/var/cache/stream-workers}
# Debian's source package of Kubernetes (bookworm): the version the binaries are built from.
K8S_DEB_VERSION=${K8S_DEB_VERSION:-1.20.5+really1.20.2-1.1+deb12u1}
K8S_BIN=$CACHE/kubernetes-$K8S_DEB_VERSION/bin
# Addresses: the engine's bridge (pods), the Service range (virtual, routed to a local dummy device so
# nothing addressed to it can leave the machine), the apiserver on the bridge address.
BRIDGE=sw-br0
BRIDGE_CIDR=${SW_BRIDGE_CIDR:-172.31.250.1/24}
BRIDGE_IP=${BRIDGE_CIDR%/*}
SERVICE_CIDR=${SW_SERVICE_CIDR:-10.252.0.0/16}
SERVICE_DEVICE=sw-svc0
DNS_SERVICE_IP=${BRIDGE_IP}
API_PORT=${SW_API_PORT:-16443}
ETCD_PORT=${SW_ETCD_PORT:-12379}
ETCD_PEER_PORT=${SW_ETCD_PEER_PORT:-12380}
DOCKER_SOCK=$STATE/docker.sock
NODE_NAME=${SW_NODE_NAME:-sw-node}
CLUSTER_DOMAIN=cluster.local
PROJECT_IMAGE=${SW_PROJECT_IMAGE:-stream-workers:dev}
REDIS_IMAGE=${SW_REDIS_IMAGE:-stream-workers-redis:dev}
BASE_IMAGE=sw-debian-node:bookworm
PAUSE_IMAGE=sw-pause:3.4
export T0=${T0:-$(date +%s.%N)}

# A progress line: "[cluster-up +12.3s] message".
step() { printf '[%s +%ss] %s\n' "${SW_STEP_PREFIX:-local-cluster}" "$(awk -v a="$(date +%s.%N)" -v b="$T0" 'BEGIN { printf "%.1f", a - b }')" "$*"; }
die() { echo "${SW_STEP_PREFIX:-local-cluster}: $*" >&2; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || die "must run as root (starts a container engine and a kubelet)"; }
# apt-get install the Debian packages whose commands are missing ("command:package" pairs).
ensure_packages() {
  local missing=() pair
  for pair in "$@"; do command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them (Debian or Ubuntu needed)"
  step "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if [ ! -f "$CACHE/.apt-updated" ] || [ -n "$(find "$CACHE/.apt-updated" -mmin +720)" ]; then
    apt-get update -qq >/dev/null; mkdir -p "$CACHE"; touch "$CACHE/.apt-updated"
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
}
# Is the pid in $1 (a pid file) a live process?
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
# Wait until a command succeeds, up to $1 seconds.
wait_for() {
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.5
  done
}
kubectl_() { "$K8S_BIN/kubectl" --kubeconfig "$STATE/kubeconfig" "$@"; }
