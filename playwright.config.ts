import { defineConfig } from '@playwright/test';

// End-to-end tests run the built extension (.output/chrome-mv3, from `npm run build`) in
// Debian's Chromium; tests/e2e/fixtures.ts launches it. Playwright never downloads browsers here.
export default defineConfig({
  testDir: 'tests/e2e',
  outputDir: 'test-results',
  timeout: 60_000,
  expect: { timeout: 10_000 },
  // One browser at a time: each test owns a persistent profile, and the machines have 2 cores.
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: [['list']],
});
