import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));
/** The repository's events/ folder (an absolute path, so no other folder named events matches). */
const EVENTS_DIR = fileURLToPath(new URL('../events/', import.meta.url));

/**
 * The UI is bundled whole into dist/web (served by `fixwright serve` at /): no CDN, no fonts from
 * elsewhere, so it works with no internet. esbuild compiles the TSX (no React plugin needed for a
 * production build).
 */
export default defineConfig({
  root,
  base: '/',
  logLevel: 'warn',
  esbuild: { jsx: 'automatic' },
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
    // events/ holds the event schemas and validators (TypeBox) beside the task summary fold the UI
    // uses: its modules run nothing on import that the UI needs, so the parts it does not use (and
    // TypeBox with them) stay out of the bundle.
    rollupOptions: { treeshake: { moduleSideEffects: (id) => !id.startsWith(EVENTS_DIR) } },
  },
});
