// Lint: typescript-eslint's recommended rules, plus the determinism boundary. Orchestration code
// (the replay core and the shipped examples' orchestrators) must not read the clock, randomness,
// timers, the network or the process: time and ids come from history.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nondeterministic = [
  { name: 'setTimeout', message: 'Use context.df.createTimer: orchestration code must be deterministic.' },
  { name: 'setInterval', message: 'Use context.df.createTimer: orchestration code must be deterministic.' },
  { name: 'fetch', message: 'Do I/O in an activity: orchestration code must be deterministic.' },
  { name: 'process', message: 'Orchestration code must not read the process environment.' },
];

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.taskhub-data/', '.test-pg/', 'openapi/*.d.ts', 'bench/results/'] },
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
    // Replay core and the shipped orchestrations: the clock and randomness are off limits.
    files: ['src/orchestrator/replay.ts', 'src/orchestrator/tasks.ts', 'src/orchestrator/context.ts', 'src/examples/**/*.ts'],
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
    files: ['src/orchestrator/replay.ts', 'src/orchestrator/tasks.ts', 'src/orchestrator/context.ts', 'src/orchestrator/history.ts', 'src/orchestrator/errors.ts'],
    rules: {
      'no-restricted-globals': ['error', ...nondeterministic],
      'no-restricted-imports': ['error', { patterns: [{ group: ['node:*', 'pg', 'pg-boss', 'fastify'], message: 'The replay core is pure: no I/O imports.' }] }],
    },
  },
);
