import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['lib/', 'node_modules/', 'transpector/labextension/', '.venv/'] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    files: ['labextension/**/*.ts', 'labextension/**/*.tsx'],
    rules: {
      eqeqeq: 'error',
      curly: 'error',
      '@typescript-eslint/explicit-module-boundary-types': 'error'
    }
  }
);
