// Builds the dashboard into dist/web of @phys/server, which `phys serve` serves at `/`. Relative
// asset URLs (base './') keep it working behind a reverse proxy that mounts the server on a path.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: './',
  publicDir: false,
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // One small bundle and no source maps in the published package.
    sourcemap: false,
    reportCompressedSize: false,
  },
});
