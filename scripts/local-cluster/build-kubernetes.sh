#!/usr/bin/env bash
# Builds the Kubernetes node binaries once from Debian's source package `kubernetes` (bookworm ships
# 1.20.2 with its vendor/ tree), into $CACHE/kubernetes-<version>/bin. A second run finds them and
# does nothing. No registry, no prebuilt binary: Debian's packages and Go toolchain only.
#
# Three changes to the source, all for running a kubelet inside an unprivileged VM:
#  - the pod sandbox's and Guaranteed pods' oom_score_adj are 0 instead of -998 / -997 (the VM
#    lacks CAP_SYS_RESOURCE, so a negative adjustment fails and no pod could start);
#  - kernel tunables the kubelet wants (vm.overcommit_memory, panic_on_oom, ...) are only reported,
#    never written: the host's sysctls are left alone.
# And the vendored modern-go/reflect2 1.0.1 (breaks on Go >= 1.18) is replaced by Debian's 1.0.2.
source "$(dirname "$0")/lib.sh"
SW_STEP_PREFIX=${SW_STEP_PREFIX:-build-kubernetes}
need_root
if [ -x "$K8S_BIN/kubelet" ] && [ -f "$K8S_BIN/.complete" ]; then
  step "Kubernetes $K8S_DEB_VERSION: cached in $K8S_BIN"
  exit 0
fi
ensure_packages go:golang-go dpkg-source:dpkg-dev gcc:gcc make:make
[ -d /usr/share/gocode/src/github.com/modern-go/reflect2 ] || {
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq golang-github-modern-go-reflect2-dev >/dev/null || die "apt-get install golang-github-modern-go-reflect2-dev failed"
}
WORK=$CACHE/kubernetes-$K8S_DEB_VERSION/work
mkdir -p "$WORK"
SRC=$WORK/src
if [ ! -d "$SRC/cmd/kubelet" ]; then
  # Private apt state: deb-src lines for bookworm without touching the machine's apt configuration.
  APT=$WORK/apt
  mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial"
  cat > "$APT/sources.list" <<SRC
deb-src http://deb.debian.org/debian bookworm main
deb-src http://deb.debian.org/debian bookworm-updates main
deb-src http://deb.debian.org/debian-security bookworm-security main
SRC
  aptopts=(-o "Dir::Etc::SourceList=$APT/sources.list" -o "Dir::Etc::SourceParts=-" -o "Dir::State::Lists=$APT/lists" -o "Dir::Cache=$APT/cache")
  step "fetching Debian's source package kubernetes=$K8S_DEB_VERSION"
  apt-get "${aptopts[@]}" update -qq >/dev/null || die "apt-get update (deb-src) failed"
  (cd "$WORK" && apt-get "${aptopts[@]}" source --download-only -qq "kubernetes=$K8S_DEB_VERSION" >/dev/null) \
    || die "apt-get source kubernetes=$K8S_DEB_VERSION failed"
  step "unpacking the source"
  rm -rf "$SRC.tmp"
  (cd "$WORK" && dpkg-source -x ./kubernetes_*.dsc "$SRC.tmp" >/dev/null) || die "dpkg-source -x failed"
  mv "$SRC.tmp" "$SRC"
fi

step "patching the source for an unprivileged node"
cd "$SRC"
# reflect2 1.0.2 from Debian.
rm -rf vendor/github.com/modern-go/reflect2
cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 vendor/github.com/modern-go/reflect2
sed -i 's#^github.com/modern-go/reflect2 v1.0.1#github.com/modern-go/reflect2 v1.0.2#' go.mod vendor/modules.txt
sed -i 's#^\(\# github.com/modern-go/reflect2\) v1.0.1#\1 v1.0.2#' vendor/modules.txt
# oom_score_adj 0 for the sandbox and Guaranteed pods.
sed -i 's/^\(\s*guaranteedOOMScoreAdj\s*int\s*=\s*\)-997/\10/' pkg/kubelet/qos/policy.go
sed -i 's/^\(\s*defaultSandboxOOMAdj\s*int\s*=\s*\)-998/\10/' pkg/kubelet/dockershim/docker_sandbox.go
grep -Eq 'guaranteedOOMScoreAdj +int = 0' pkg/kubelet/qos/policy.go || die "patch of pkg/kubelet/qos/policy.go did not apply"
grep -Eq 'defaultSandboxOOMAdj int = 0' pkg/kubelet/dockershim/docker_sandbox.go || die "patch of pkg/kubelet/dockershim/docker_sandbox.go did not apply"
# Kernel tunables: reported, never written.
perl -0pi -e 's/err = sysctl\.SetSysctl\(flag, expectedValue\)\n\s*if err != nil \{\n\s*errList = append\(errList, err\)\n\s*\}/klog.Warningf("local cluster: kernel flag %v is %v (kubelet expects %v), left unchanged", flag, val, expectedValue)/' pkg/kubelet/cm/container_manager_linux.go
grep -q 'left unchanged' pkg/kubelet/cm/container_manager_linux.go || die "patch of pkg/kubelet/cm/container_manager_linux.go did not apply"

step "building kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl (several minutes on 2 cores)"
GOPATH_DIR=$WORK/gopath
mkdir -p "$GOPATH_DIR/src/k8s.io"
ln -sfn "$SRC" "$GOPATH_DIR/src/k8s.io/kubernetes"
cd "$GOPATH_DIR/src/k8s.io/kubernetes"
export GOPATH=$GOPATH_DIR GO111MODULE=off GOFLAGS=-mod=vendor CGO_ENABLED=0 GOCACHE=$WORK/gocache
export KUBE_GIT_VERSION=v1.20.2 KUBE_GIT_TREE_STATE=clean KUBE_GIT_COMMIT=faecb196815e248d3ecfb03c680a4507229c2a56
make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubelet cmd/kube-proxy cmd/kubectl" \
  > "$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log" >&2; die "build failed (log: $WORK/build.log)"; }
mkdir -p "$K8S_BIN"
for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
  cp "_output/local/bin/linux/amd64/$b" "$K8S_BIN/$b.tmp" && mv "$K8S_BIN/$b.tmp" "$K8S_BIN/$b"
done
step "building the pause binary (static, from build/pause)"
gcc -Os -static -o "$K8S_BIN/pause" build/pause/linux/pause.c -DVERSION=3.4-sw || die "building pause failed"
touch "$K8S_BIN/.complete"
step "Kubernetes $K8S_DEB_VERSION built into $K8S_BIN"
