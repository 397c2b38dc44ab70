// Settings every package's vitest project shares: workspace packages resolve to their sources,
// and under CI each run also writes a JSON report that .ci/run sums into one closing line.
import { defaultServerConditions } from 'vite';
import type { ViteUserConfig } from 'vitest/config';

export function sharedProject(name: string): ViteUserConfig {
  const slug = name.replace(/^@/, '').replace(/\//g, '-');
  return {
    ssr: { resolve: { conditions: ['@phys/source', ...defaultServerConditions] } },
    test: {
      name,
      restoreMocks: true,
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      testTimeout: 60_000,
      hookTimeout: 60_000,
      ...(process.env.CI
        ? {
            reporters: ['default', 'json'],
            outputFile: { json: `${import.meta.dirname}/test-results/${slug}.json` },
          }
        : {}),
    },
  };
}
