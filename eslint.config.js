import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'src/generated/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    // Plain Node scripts (the executable, the CLI build).
    files: ['bin/**/*.mjs', 'scripts/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
  {
    // The console's one browser script.
    files: ['src/console/assets/**/*.js'],
    languageOptions: { sourceType: 'script', globals: { document: 'readonly', fetch: 'readonly', location: 'readonly', DOMParser: 'readonly', setTimeout: 'readonly' } },
  },
  {
    // The compliance core is pure: no I/O, no clock, no environment, luxon only behind time.ts.
    files: ['src/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [
          'fs', 'node:fs', 'fs/promises', 'node:fs/promises', 'net', 'node:net', 'http', 'node:http',
          'bullmq', 'ioredis', 'express', 'twilio', 'pg', '@prisma/client', 'pino',
        ].map((name) => ({ name, message: 'src/domain is pure: do I/O in an adapter.' })),
        patterns: [{ group: ['**/adapters/**', '**/api/**', '**/cli/**'], message: 'src/domain must not import adapters.' }],
      }],
      'no-restricted-properties': ['error',
        { object: 'Date', property: 'now', message: 'Pass `now` in; the domain reads no clock.' },
        { object: 'process', property: 'env', message: 'The domain reads no environment.' },
      ],
      'no-restricted-syntax': ['error', { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'Pass `now` in; the domain reads no clock.' }],
    },
  },
  {
    files: ['src/domain/**/*.ts'],
    ignores: ['src/domain/time.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [
          { name: 'luxon', message: 'Use src/domain/time.ts: luxon lives behind one module.' },
          ...['fs', 'node:fs', 'fs/promises', 'node:fs/promises', 'net', 'node:net', 'http', 'node:http',
            'bullmq', 'ioredis', 'express', 'twilio', 'pg', '@prisma/client', 'pino'].map((name) => ({ name, message: 'src/domain is pure: do I/O in an adapter.' })),
        ],
        patterns: [{ group: ['**/adapters/**', '**/api/**', '**/cli/**'], message: 'src/domain must not import adapters.' }],
      }],
    },
  },
);
