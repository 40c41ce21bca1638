import { defineConfig } from 'vitest/config';

// Unit tests of the DOM-free canvas code (layout, store, binary frames): `jlpm vitest run`.
export default defineConfig({
  test: {
    include: ['labextension/**/*.test.ts'],
    environment: 'node'
  }
});
