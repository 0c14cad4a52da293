#!/usr/bin/env bash
# make cluster-up: a real single-node Kubernetes (1.20, built from Debian's source package) on this
# machine, with the project's image in the node's engine as stream-workers:dev. Idempotent: what
# runs already is left running; what is built already is reused. Prints a line per step with the
# time since start. Everything it starts is recorded by pid in .cluster/pids/ (make cluster-down
# stops exactly those).
#
# Addresses: a bridge of its own (sw-br0, 172.31.250.1/24) for the engine and the pods; the
# apiserver, kubelet and DNS listen on the bridge address; the Service range 10.252.0.0/16 is
# virtual (kube-proxy's iptables rules rewrite it to pod addresses) and routed to the bridge, so a
# packet to a Service without endpoints dies on the bridge and nothing leaves the machine.
source "$(dirname "$0")/lib.sh"
SW_STEP_PREFIX=cluster-up
need_root
[ "$(uname -s)" = Linux ] || die "needs Linux"
DOCKER=/usr/bin/docker
export DOCKER_HOST=unix://$DOCKER_SOCK

step "checking prerequisites"
# What cannot be installed here first, then Debian's packages for whatever command is missing.
command -v node >/dev/null || die "node not found (Node.js >= 20.19 is needed for the image's base)"
[ -x "$REPO/.tools/bin/helm" ] || die "helm missing: run 'make tools' (scripts/install-tools.sh) first"
command -v apt-get >/dev/null || die "apt-get not found: the local cluster is built from Debian's packages (Debian bookworm or a derivative)"
ensure_packages dockerd:docker.io containerd:containerd runc:runc iptables:iptables debootstrap:debootstrap \
  etcd:etcd-server dnsmasq:dnsmasq-base openssl:openssl conntrack:conntrack ip:iproute2 curl:curl gcc:gcc
[ -f /etc/ssl/certs/ca-certificates.crt ] || die "/etc/ssl/certs/ca-certificates.crt missing (Debian's ca-certificates)"
mkdir -p "$STATE"/{pids,logs,pki,dns,etcd,kubelet,docker-exec} "$CACHE"

bash "$REPO/scripts/local-cluster/build-kubernetes.sh"

# start NAME LOGFILE CMD...: run a daemon in its own session, pid in $STATE/pids/NAME.pid.
start() {
  local name=$1; shift
  if alive "$STATE/pids/$name.pid"; then step "$name: running (pid $(cat "$STATE/pids/$name.pid"))"; return 0; fi
  setsid "$@" >>"$STATE/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$STATE/pids/$name.pid"
  step "$name: started (pid $!, log .cluster/logs/$name.log)"
}
# Remember a sysctl's value the first time it is changed, so cluster-down puts it back.
set_sysctl() {
  local key=$1 value=$2 file=/proc/sys/${1//.//}
  [ -f "$STATE/sysctl.$key" ] || cat "$file" > "$STATE/sysctl.$key"
  [ "$(cat "$file")" = "$value" ] || echo "$value" > "$file"
}

step "network: bridge $BRIDGE ($BRIDGE_CIDR), Service range $SERVICE_CIDR routed to it"
ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge
ip addr show dev "$BRIDGE" | grep -q "inet $BRIDGE_CIDR" || ip addr add "$BRIDGE_CIDR" dev "$BRIDGE"
ip link set "$BRIDGE" up
ip route show "$SERVICE_CIDR" | grep -q . || ip route add "$SERVICE_CIDR" dev "$BRIDGE"
# Pods reach Services and the outside (the npm registry during image builds) through the host.
set_sysctl net.ipv4.ip_forward 1

# The iptables chains that exist before the engine and kube-proxy add theirs: cluster-down keeps them.
if [ ! -f "$STATE/iptables-chains.before" ]; then
  for t in filter nat mangle; do iptables -t "$t" -S | awk -v t="$t" '$1 == "-N" { print t " " $2 }'; done > "$STATE/iptables-chains.before"
fi
step "container engine (Debian's docker.io, data in $CACHE/docker)"
start dockerd dockerd --data-root "$CACHE/docker" --exec-root "$STATE/docker-exec" --pidfile "$STATE/dockerd.own.pid" \
  -H "$DOCKER_HOST" --bridge "$BRIDGE" --iptables=true --ip-masq=true --storage-driver overlay2 \
  --exec-opt native.cgroupdriver=cgroupfs --default-ulimit nofile=20000:20000
wait_for 60 "$DOCKER" info || die "dockerd did not answer within 60 s (.cluster/logs/dockerd.log)"

step "base images"
if ! "$DOCKER" image inspect sw-debian:bookworm >/dev/null 2>&1; then
  ROOTFS=$CACHE/rootfs-bookworm
  if [ ! -f "$ROOTFS/.complete" ]; then
    step "debootstrap --variant=minbase bookworm (about a minute)"
    rm -rf "$ROOTFS"
    debootstrap --variant=minbase --include=ca-certificates bookworm "$ROOTFS" http://deb.debian.org/debian \
      > "$STATE/logs/debootstrap.log" 2>&1 || die "debootstrap failed (.cluster/logs/debootstrap.log)"
    touch "$ROOTFS/.complete"
  fi
  tar -C "$ROOTFS" --exclude=./.complete -c . | "$DOCKER" import - sw-debian:bookworm >/dev/null
fi
build_ctx() { # build_ctx IMAGE DOCKERFILE FILES...: docker build with a context of just these files
  local image=$1 dockerfile=$2; shift 2
  local ctx; ctx=$(mktemp -d)
  [ $# -eq 0 ] || cp -r "$@" "$ctx"/
  DOCKER_BUILDKIT=1 "$DOCKER" build -q -t "$image" -f "$REPO/scripts/local-cluster/images/$dockerfile" "$ctx" \
    > "$STATE/logs/build-$dockerfile.log" 2>&1 || { rm -rf "$ctx"; die "building $image failed (.cluster/logs/build-$dockerfile.log)"; }
  rm -rf "$ctx"
}
NODE_BIN=$(readlink -f "$(command -v node)")
NODE_TAG=sw-debian-node:$("$NODE_BIN" --version)
if ! "$DOCKER" image inspect "$NODE_TAG" >/dev/null 2>&1; then
  step "image $NODE_TAG (machine's node $("$NODE_BIN" --version))"
  NPM_DIR=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
  ctx=$(mktemp -d); cp "$NODE_BIN" "$ctx/node"; cp -r "$NPM_DIR" "$ctx/npm"; cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
  DOCKER_BUILDKIT=1 "$DOCKER" build -q -t "$NODE_TAG" -f "$REPO/scripts/local-cluster/images/node-base.Dockerfile" "$ctx" \
    > "$STATE/logs/build-node-base.log" 2>&1 || { rm -rf "$ctx"; die "building $NODE_TAG failed (.cluster/logs/build-node-base.log)"; }
  rm -rf "$ctx"
fi
"$DOCKER" image inspect "$PAUSE_IMAGE" >/dev/null 2>&1 || { step "image $PAUSE_IMAGE"; build_ctx "$PAUSE_IMAGE" pause.Dockerfile "$K8S_BIN/pause"; }
"$DOCKER" image inspect "$REDIS_IMAGE" >/dev/null 2>&1 || { step "image $REDIS_IMAGE (Debian's redis-server)"; build_ctx "$REDIS_IMAGE" redis.Dockerfile; }

step "certificates and tokens"
PKI=$STATE/pki
if [ ! -f "$PKI/.complete" ]; then
  first_service_ip=$(node -e 'const [a,b,c,d]=process.argv[1].split("/")[0].split(".").map(Number);console.log([a,b,c,d+1].join("."))' "$SERVICE_CIDR")
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=stream-workers-local-ca" \
    -keyout "$PKI/ca.key" -out "$PKI/ca.crt" 2>/dev/null
  cat > "$PKI/apiserver.ext" <<EXT
subjectAltName=IP:127.0.0.1,IP:$BRIDGE_IP,IP:$first_service_ip,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$CLUSTER_DOMAIN,DNS:localhost
extendedKeyUsage=serverAuth
EXT
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout "$PKI/apiserver.key" -out "$PKI/apiserver.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/apiserver.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 3650 \
    -extfile "$PKI/apiserver.ext" -out "$PKI/apiserver.crt" 2>/dev/null
  # The apiserver's client certificate towards the kubelet (the only client the kubelet accepts).
  openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" \
    -keyout "$PKI/kubelet-client.key" -out "$PKI/kubelet-client.csr" 2>/dev/null
  echo "extendedKeyUsage=clientAuth" > "$PKI/client.ext"
  openssl x509 -req -in "$PKI/kubelet-client.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 3650 \
    -extfile "$PKI/client.ext" -out "$PKI/kubelet-client.crt" 2>/dev/null
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  # Static tokens (token,user,uid,groups): one identity per component, RBAC as kubeadm sets them up.
  : > "$PKI/tokens.csv"
  for who in "admin|kubernetes-admin|system:masters" "kubelet|system:node:$NODE_NAME|system:nodes" \
             "controller-manager|system:kube-controller-manager|" "scheduler|system:kube-scheduler|" \
             "proxy|system:kube-proxy|" "dns|stream-workers:local-dns|"; do
    IFS='|' read -r id user group <<< "$who"
    token=$(openssl rand -hex 24); echo "$token" > "$PKI/$id.token"
    echo "$token,$user,$id,\"$group\"" >> "$PKI/tokens.csv"
  done
  touch "$PKI/.complete"
fi
SERVER=https://$BRIDGE_IP:$API_PORT
kubeconfig() { # kubeconfig ID FILE
  cat > "$2" <<KC
apiVersion: v1
kind: Config
clusters:
  - name: local
    cluster:
      server: $SERVER
      certificate-authority-data: $(base64 -w0 < "$PKI/ca.crt")
users:
  - name: $1
    user:
      token: $(cat "$PKI/$1.token")
contexts:
  - name: local
    context: { cluster: local, user: $1 }
current-context: local
KC
  chmod 600 "$2"
}
for id in admin kubelet controller-manager scheduler proxy; do kubeconfig "$id" "$PKI/$id.kubeconfig"; done
cp "$PKI/admin.kubeconfig" "$STATE/kubeconfig"

start etcd etcd --name local --data-dir "$STATE/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "local=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls "http://127.0.0.1:$((ETCD_PORT + 2))"
wait_for 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health" || die "etcd not healthy within 30 s (.cluster/logs/etcd.log)"

start kube-apiserver "$K8S_BIN/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --bind-address "$BRIDGE_IP" --advertise-address "$BRIDGE_IP" --secure-port "$API_PORT" \
  --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" --client-ca-file "$PKI/ca.crt" \
  --token-auth-file "$PKI/tokens.csv" --authorization-mode Node,RBAC \
  --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
  --service-account-issuer "https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
  --service-cluster-ip-range "$SERVICE_CIDR" --allow-privileged=true --insecure-port 0 \
  --kubelet-preferred-address-types InternalIP \
  --kubelet-client-certificate "$PKI/kubelet-client.crt" --kubelet-client-key "$PKI/kubelet-client.key" --cert-dir "$PKI/apiserver-generated"
wait_for 60 curl -sf --cacert "$PKI/ca.crt" "$SERVER/readyz" || die "kube-apiserver not ready within 60 s (.cluster/logs/kube-apiserver.log)"

start kube-controller-manager "$K8S_BIN/kube-controller-manager" --kubeconfig "$PKI/controller-manager.kubeconfig" \
  --authentication-kubeconfig "$PKI/controller-manager.kubeconfig" --authorization-kubeconfig "$PKI/controller-manager.kubeconfig" \
  --leader-elect=false --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
  --use-service-account-credentials=true --bind-address 127.0.0.1 --port 0 --secure-port 10257 \
  --service-cluster-ip-range "$SERVICE_CIDR" --controllers '*,-nodeipam,-cloud-node-lifecycle'
start kube-scheduler "$K8S_BIN/kube-scheduler" --kubeconfig "$PKI/scheduler.kubeconfig" \
  --authentication-kubeconfig "$PKI/scheduler.kubeconfig" --authorization-kubeconfig "$PKI/scheduler.kubeconfig" \
  --leader-elect=false --bind-address 127.0.0.1 --port 0 --secure-port 10259

step "cluster DNS (dnsmasq on $BRIDGE_IP:53, records from the Services)"
touch "$STATE/dns/hosts"
start dnsmasq dnsmasq --keep-in-foreground --no-resolv --no-hosts --no-poll --bind-interfaces \
  --listen-address="$BRIDGE_IP" --except-interface=lo --addn-hosts="$STATE/dns/hosts" \
  --local="/$CLUSTER_DOMAIN/" --local-ttl=1 --domain-needed --user=root --log-facility=-
start dns-sync node "$REPO/scripts/local-cluster/dns-sync.mjs" "$SERVER" "$PKI/ca.crt" "$PKI/dns.token" \
  "$STATE/dns/hosts" "$STATE/pids/dnsmasq.pid" "$CLUSTER_DOMAIN"

# RBAC for the DNS loop (list Services and Endpoints cluster-wide).
wait_for 60 kubectl_ get --raw /api/v1/namespaces/default || die "apiserver does not serve the admin (.cluster/logs/kube-apiserver.log)"
kubectl_ apply -f - >/dev/null <<'RBAC'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: stream-workers:local-dns }
rules:
  - { apiGroups: [""], resources: [services, endpoints], verbs: [get, list, watch] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: stream-workers:local-dns }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: stream-workers:local-dns }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: User, name: "stream-workers:local-dns" }]
RBAC

start kubelet "$K8S_BIN/kubelet" --kubeconfig "$PKI/kubelet.kubeconfig" --hostname-override "$NODE_NAME" \
  --node-ip "$BRIDGE_IP" --address "$BRIDGE_IP" --read-only-port 0 --port 10250 --healthz-port 10248 \
  --root-dir "$STATE/kubelet" --cert-dir "$STATE/kubelet/pki" \
  --container-runtime docker --docker-endpoint "$DOCKER_HOST" --pod-infra-container-image "$PAUSE_IMAGE" \
  --cgroup-driver cgroupfs --cgroups-per-qos=false --enforce-node-allocatable= --fail-swap-on=false --oom-score-adj 0 \
  --anonymous-auth=false --client-ca-file "$PKI/ca.crt" --authorization-mode AlwaysAllow \
  --cluster-dns "$DNS_SERVICE_IP" --cluster-domain "$CLUSTER_DOMAIN" --resolv-conf "" \
  --image-gc-high-threshold 100 --image-gc-low-threshold 99 \
  --eviction-hard 'memory.available<200Mi,nodefs.available<1%,imagefs.available<1%' --max-pods 60 \
  --serialize-image-pulls=false
# kube-proxy sets net.ipv4.conf.all.route_localnet=1 (iptables mode): remember the value for cluster-down.
[ -f "$STATE/sysctl.net.ipv4.conf.all.route_localnet" ] || cat /proc/sys/net/ipv4/conf/all/route_localnet > "$STATE/sysctl.net.ipv4.conf.all.route_localnet"
start kube-proxy "$K8S_BIN/kube-proxy" --kubeconfig "$PKI/proxy.kubeconfig" --hostname-override "$NODE_NAME" \
  --proxy-mode iptables --masquerade-all --cluster-cidr "${BRIDGE_CIDR%.*}.0/24" --bind-address "$BRIDGE_IP" \
  --metrics-bind-address 127.0.0.1:10249 --healthz-bind-address 127.0.0.1:10256 \
  --conntrack-max-per-core 0 --conntrack-tcp-timeout-established 0 --conntrack-tcp-timeout-close-wait 0

step "waiting for node $NODE_NAME to be Ready"
wait_for 120 bash -c "'$K8S_BIN/kubectl' --kubeconfig '$STATE/kubeconfig' get node '$NODE_NAME' -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True" \
  || die "node not Ready within 120 s (.cluster/logs/kubelet.log)"
wait_for 60 kubectl_ -n default get serviceaccount default || die "default ServiceAccount missing after 60 s (.cluster/logs/kube-controller-manager.log)"

step "image $PROJECT_IMAGE (the project's Dockerfile, base $NODE_TAG)"
DOCKER_BUILDKIT=1 "$DOCKER" build -q -t "$PROJECT_IMAGE" --build-arg "NODE_IMAGE=$NODE_TAG" "$REPO" \
  > "$STATE/logs/build-project.log" 2>&1 || { tail -20 "$STATE/logs/build-project.log" >&2; die "docker build of $PROJECT_IMAGE failed"; }

step "ready: KUBECONFIG=$STATE/kubeconfig (server $SERVER), images $PROJECT_IMAGE and $REDIS_IMAGE"
