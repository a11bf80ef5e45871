// ESLint flat config. Layout (spacing, quotes, wrapping) is prettier's job: `npm run lint` runs both.
import js from '@eslint/js'
import prettier from 'eslint-config-prettier'
import { defineConfig } from 'eslint/config'
import tseslint from 'typescript-eslint'

// The shipped code: linted with type information too (tsconfig.json covers exactly these folders).
const PRODUCT = ['daemon/**/*.ts', 'devices/**/*.ts', 'protocols/**/*.ts', 'native/**/*.ts', 'bench/**/*.ts']

export default defineConfig(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '.tap/', 'data/', 'tmp/'] },
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: PRODUCT,
    extends: [tseslint.configs.recommendedTypeCheckedOnly],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // Handlers and interface methods are async on purpose (fastify routes, Source.stop, Cmd.run): a
      // throw then rejects like every other failure. An async function without await is not a bug here.
      '@typescript-eslint/require-await': 'off',
      // Passing on what a catch caught is fine, as only-throw-error allows for throw.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
    },
  },
  {
    rules: {
      // A leading underscore marks a binding that must exist but is not used (an interface's parameter,
      // a `for await` that drains); `...rest` drops the keys named before it.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // The protocol parsers and input checks match control characters on purpose (to refuse them in
      // ids, headers and paths); every hit of this rule was one of those.
      'no-control-regex': 'off',
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests read JSON replies and reach into objects under test through `any`; typing every reply
      // would add casts, not checks (the product code has no `any`).
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  prettier,
)
