import { defineConfig } from 'vitest/config';

// Unit tests are pure and fast; integration, fault and end-to-end suites start real etcd, HAProxy and
// MariaDB processes on loopback, so they run one file at a time to stay within a 2-core machine.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/faults/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
        },
      },
      {
        // Builds the standalone binary and the sidecar image (root, buildah, debootstrap), then runs
        // both where no Node.js exists.
        test: {
          name: 'packaging',
          include: ['test/packaging/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 900_000,
          // One file at a time: each runs .ci/build-image, and two builds must not share dist/sea.
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 600_000,
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
