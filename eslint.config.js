// The lint gate (`npm run lint`): ESLint with typescript-eslint on src, test and bench.
// Type-aware rules are the ones that catch real bugs in this code base: promises nobody awaits or
// handles (a lost rejection kills the process or hides a failure), promises passed where a
// callback's result is ignored, and awaiting things that are not promises.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/', 'coverage/', 'node_modules/', 'bench/results/'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    languageOptions: {
      globals: globals.node,
      parserOptions: {
        // tsconfig.test.json is the one project that holds src, test and bench.
        project: './tsconfig.test.json',
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      // `typeof import('undici')` types a module loaded lazily with `await import()`: keep it allowed.
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      // Passing a caught or emitted error on unchanged is right; only-throw-error allows the same.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingAny: true, allowThrowingUnknown: true }],
      // Methods that implement a Promise-returning interface stay `async` without an `await` so a
      // throw inside them becomes a rejection, as callers of the interface expect.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
    },
  },
  {
    // vitest types its asymmetric matchers (`expect.stringMatching(...)`, `expect.any(...)`) as
    // `any`, and tests put them inside expected objects on purpose.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-unsafe-assignment': 'off' },
  },
  {
    // Plain JavaScript anywhere and configuration files at the root: no type information.
    files: ['**/*.js', '**/*.cjs', '**/*.mjs', '*.ts'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: globals.node },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
  },
);
