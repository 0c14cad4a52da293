# One image for every service; the container's arguments select which one runs:
#   docker run stream-workers services/worker/dist/main.js
# (the Helm chart, docker-compose.yml and k8s/ do exactly that). One image keeps the shared core
# library, the dependency tree and the build in one cacheable place; each service only adds a few
# kilobytes of compiled JavaScript, so per-service images would cost four builds and pushes for no gain.
# The base: an official Node.js LTS image (22 or 24). `make cluster-up` passes a locally made Debian
# image with the machine's node instead (no registry can be reached there).
ARG NODE_IMAGE=node:22-bookworm-slim

# ---- build: all dependencies, compile TypeScript --------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY services/core/package.json services/core/
COPY services/worker/package.json services/worker/
COPY services/producer/package.json services/producer/
COPY services/lag-exporter/package.json services/lag-exporter/
COPY services/autoscaler/package.json services/autoscaler/
# The npm cache is a BuildKit cache mount (never in a layer), shared with the runtime stage one at a
# time (sharing=locked: the two stages build in parallel and npm is not safe on one cache at once).
RUN --mount=type=cache,target=/root/.npm,sharing=locked npm ci --no-audit --no-fund
COPY tsconfig.base.json ./
COPY services/ services/
# Compile the services only (not bench/ or tests).
RUN npx tsc -b services/core services/worker services/producer services/lag-exporter services/autoscaler

# ---- runtime: production dependencies + compiled output, non-root ---------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
COPY services/core/package.json services/core/
COPY services/worker/package.json services/worker/
COPY services/producer/package.json services/producer/
COPY services/lag-exporter/package.json services/lag-exporter/
COPY services/autoscaler/package.json services/autoscaler/
RUN --mount=type=cache,target=/root/.npm,sharing=locked npm ci --omit=dev --no-audit --no-fund
COPY --from=build /app/services/core/dist services/core/dist
# The Lua scripts: read at run time from services/core/lua (beside dist/; tsc does not copy them).
COPY --from=build /app/services/core/lua services/core/lua
COPY --from=build /app/services/worker/dist services/worker/dist
COPY --from=build /app/services/producer/dist services/producer/dist
COPY --from=build /app/services/lag-exporter/dist services/lag-exporter/dist
# The KEDA external scaler loads its .proto at run time (services/lag-exporter/src/external-scaler.ts).
COPY services/lag-exporter/proto services/lag-exporter/proto
COPY --from=build /app/services/autoscaler/dist services/autoscaler/dist
# The `node` user of the official image (uid/gid 1000); the chart runs as 1000 with a read-only root.
USER 1000:1000
EXPOSE 8080 8081 8082 8083
# Exec form: node is PID 1 and receives SIGTERM itself (each service installs its own handler and
# drains); no shell wrapper in between.
ENTRYPOINT ["node"]
CMD ["services/producer/dist/main.js"]
