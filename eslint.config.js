const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
const importPlugin = require('eslint-plugin-import');

const ioLibraries = [
  '@temporalio/client',
  '@temporalio/worker',
  '@temporalio/testing',
  '@mikro-orm/*',
  'pg',
  'fastify',
  'zod',
  'pino',
];

module.exports = tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.data/**', 'coverage/**', '*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: __dirname } },
    plugins: { import: importPlugin },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'import/no-cycle': 'error',
    },
    settings: { 'import/resolver': { node: { extensions: ['.ts', '.js'] } } },
  },
  {
    // Tests read JSON responses whose shape the assertions themselves check.
    files: ['tests/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // The report page's script runs in the browser: the browser globals it uses (globals is not a dependency).
    files: ['api/public/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(
        ['window', 'document', 'fetch', 'sessionStorage', 'location', 'history', 'URLSearchParams'].map((name) => [
          name,
          'readonly',
        ]),
      ),
    },
  },
  {
    // Workflow code must stay deterministic: no Node built-ins and no I/O libraries, except as types.
    files: ['workflows/**/*.ts', 'domain/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'fs', 'path', 'crypto', 'http', 'https', 'net', 'child_process'],
              message: 'no Node built-ins in workflow code',
            },
            {
              group: ioLibraries,
              message: 'workflow code may import I/O libraries only as types',
              allowTypeImports: true,
            },
            {
              group: ['../activities/*', '!../activities/types'],
              message: 'workflows see activities only as types',
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
);
