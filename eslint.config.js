// Lint: typescript-eslint's recommended rules, the determinism boundary and the dependency rules
// of ARCHITECTURE.md, so that the structure keeps itself:
// - src/orchestrator/** imports nothing from src/routes or src/activities (the adapters depend on
//   the engine, never the other way; the engine reaches pg-boss through orchestrator/ports.ts);
// - src/orchestrator/core/** imports only core (and two pure libraries: uuid for newGuid, croner
//   for cron maths): no I/O, no clock, no randomness, no store;
// - src/routes/** imports nothing from src/orchestrator/store, src/db or src/activities, nor pg or
//   pg-boss: HTTP over the engine's verbs and domain types;
// - no import cycle between files (import-x/no-cycle).
// test/unit/lint-boundaries.test.ts lints deliberate violations (test/fixtures/lint/) and checks
// that each of these rules fails on them.
import js from '@eslint/js';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

const nondeterministic = [
  { name: 'setTimeout', message: 'Use context.df.createTimer: orchestration code must be deterministic.' },
  { name: 'setInterval', message: 'Use context.df.createTimer: orchestration code must be deterministic.' },
  { name: 'fetch', message: 'Do I/O in an activity: orchestration code must be deterministic.' },
  { name: 'process', message: 'Orchestration code must not read the process environment.' },
  { name: 'crypto', message: 'Use context.df.newGuid(): orchestration code must be deterministic.' },
];

/** Import patterns (regular expressions on the specifier) each folder may not use. */
const ADAPTERS = { regex: '(^|/)(routes|activities)/', message: 'src/orchestrator must not import an adapter (src/routes, src/activities): add a port (orchestrator/ports.ts) or an engine verb.' };
const ROUTES_BELOW_ENGINE = [
  { regex: '(^|/)(orchestrator/store|db|activities)/', message: 'src/routes speaks to the engine only (its verbs and domain types), never to the store, src/db or src/activities.' },
  { regex: '^(pg|pg-boss)$', message: 'src/routes must not use the database drivers.' },
];
const CORE_ONLY = {
  regex: '^(?!\\./[^/]+$)(?!uuid$)(?!croner$)',
  message: 'src/orchestrator/core is pure: it imports only core (./x.ts) and the pure libraries uuid and croner.',
};

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.taskhub-data/', '.test-pg/', 'openapi/*.d.ts', 'bench/results/', 'test/fixtures/lint/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // The monitor's front end: plain ES modules run by the browser.
    files: ['monitor/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(
        ['document', 'window', 'location', 'sessionStorage', 'fetch', 'URL', 'URLSearchParams', 'FormData', 'Node', 'Event', 'setTimeout', 'clearTimeout'].map((g) => [g, 'readonly']),
      ),
    },
  },
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', Buffer: 'readonly' } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // No import cycles in the service's code. Type-only imports count too: a cycle of types is
    // still two files that cannot be understood one without the other.
    files: ['src/**/*.ts', 'test/fixtures/lint/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [importX.createNodeResolver({ extensions: ['.ts', '.js'] })],
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },
  {
    files: ['src/orchestrator/**/*.ts'],
    ignores: ['src/orchestrator/core/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [ADAPTERS] }] },
  },
  {
    files: ['src/orchestrator/core/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [CORE_ONLY] }] },
  },
  {
    files: ['src/routes/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: ROUTES_BELOW_ENGINE }] },
  },
  {
    // The replay core and the shipped orchestrations: the clock and randomness are off limits.
    files: ['src/orchestrator/core/**/*.ts', 'src/examples/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'Use context.df.currentUtcDateTime: orchestration code must be deterministic.' },
        { selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']", message: 'Use context.df.currentUtcDateTime: orchestration code must be deterministic.' },
      ],
      'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: 'Use context.df.newGuid().' }],
    },
  },
  {
    files: ['src/orchestrator/core/**/*.ts'],
    rules: { 'no-restricted-globals': ['error', ...nondeterministic] },
  },
);
