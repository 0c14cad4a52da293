// ESLint (flat config, typescript-eslint), run by `make lint` after `tsc -b`. Besides the recommended
// rules it checks the project's own rules (docs/design.md, "Code rules"), which scripts/lint.mjs
// checked with regular expressions before:
//  1. Only a service's main.ts (and the load generator's cli.ts, and core's runService in service.ts)
//     reads process.env, installs signal handlers or calls process.exit.
//  2. No `any` without a comment on the same or the previous line saying why (project/any-needs-reason).
//  3. No focused or skipped tests.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** A local rule: every `any` carries a comment (same line or the line before) saying why. */
const anyNeedsReason = {
  meta: { type: 'suggestion', docs: { description: '`any` only with a comment saying why' }, schema: [], messages: { why: '`any` without a comment saying why (same line or the line before)' } },
  create(context) {
    const source = context.sourceCode;
    const commentLines = new Set();
    for (const c of source.getAllComments()) for (let l = c.loc.start.line; l <= c.loc.end.line; l++) commentLines.add(l);
    return {
      TSAnyKeyword(node) {
        const line = node.loc.start.line;
        if (!commentLines.has(line) && !commentLines.has(line - 1)) context.report({ node, messageId: 'why' });
      },
    };
  },
};

const processOutsideMain = [
  { object: 'process', property: 'env', message: 'process.env outside main.ts: pass options instead (docs/design.md, "Code rules")' },
  { object: 'process', property: 'exit', message: 'process.exit outside main.ts (docs/design.md, "Code rules")' },
];
const signalOutsideMain = {
  selector: "CallExpression[callee.object.name='process'][callee.property.name=/^(on|once)$/][arguments.0.value=/^SIG/]",
  message: 'signal handler outside main.ts (docs/design.md, "Code rules")',
};
const focusedOrSkipped = [
  { selector: 'CallExpression[callee.object.name=/^(it|test|describe)$/][callee.property.name=/^(only|skip)$/]', message: 'focused or skipped test' },
  { selector: 'CallExpression[callee.name=/^x(it|test|describe)$/]', message: 'focused or skipped test' },
];

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', '.tools/**', '.tmp/**', 'demo-report/**', 'bench/results/**', 'k8s/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { project: { rules: { 'any-needs-reason': anyNeedsReason } } },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Replaced by project/any-needs-reason: an `any` is allowed where a comment says why.
      '@typescript-eslint/no-explicit-any': 'off',
      'project/any-needs-reason': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    files: ['services/*/src/**/*.ts'],
    ignores: ['services/*/src/**/main.ts', 'services/*/src/**/cli.ts', 'services/core/src/service.ts'],
    rules: {
      'no-restricted-properties': ['error', ...processOutsideMain],
      'no-restricted-syntax': ['error', signalOutsideMain],
    },
  },
  {
    files: ['**/*.test.ts'],
    rules: { 'no-restricted-syntax': ['error', ...focusedOrSkipped] },
  },
);
