/**
 * One jest project per package, all transformed by @swc/jest straight from TypeScript sources
 * (type checking is `tsc -b` / `make lint`). Tests that start service processes need `npm run build`
 * first; `make test` does that.
 */
const swc = ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }];
const swcDecorators = [
  '@swc/jest',
  { jsc: { parser: { syntax: 'typescript', decorators: true }, transform: { legacyDecorator: true, decoratorMetadata: true }, target: 'es2022' }, module: { type: 'commonjs' } },
];
const common = {
  testEnvironment: 'node',
  transform: { '^.+\\.(t|j|mj)s$': swc },
  moduleNameMapper: { '^@stream-workers/core$': '<rootDir>/services/core/src/index.ts' },
  // ESM-only packages (e.g. @kubernetes/client-node 1.x) are transformed to CommonJS for jest.
  transformIgnorePatterns: ['/node_modules/(?!(@kubernetes/client-node|openid-client|oauth4webapi|jose|@kubernetes-models|kubernetes-models)/)'],
  rootDir: __dirname,
  testTimeout: 120_000,
};
const project = (name, dir, extra = {}) => ({
  ...common,
  displayName: name,
  testMatch: [`<rootDir>/${dir}/**/*.test.ts`],
  ...extra,
});
module.exports = {
  testTimeout: 120_000,
  projects: [
    project('core', 'services/core/test'),
    project('worker', 'services/worker/test'),
    project('producer', 'services/producer/test'),
    // Nest's decorators (legacy, with metadata) in @stream-workers/nestjs's sources.
    project('nestjs', 'services/nestjs/test', { transform: { '^.+\\.(t|j|mj)s$': swcDecorators } }),
    project('lag-exporter', 'services/lag-exporter/test'),
    project('autoscaler', 'services/autoscaler/test'),
    project('chart', 'charts/test'),
    project('demo', 'scripts/test'),
    project('reliability', 'test/reliability'),
    // Redis as production runs it (Sentinel, Cluster, TLS): private redis-server processes; run in band after reliability.
    project('redis-ha', 'test/redis-ha'),
    project('examples', 'examples'),
    project('packages', 'test/packages'),
    // The cluster suite: needs `make cluster-up` (make test-k8s runs it). Its slow steps pass their
    // own timeout (STEP_TIMEOUT_MS in test/k8s/support/cluster.ts): a project's testTimeout is not applied.
    project('k8s', 'test/k8s'),
  ],
};
