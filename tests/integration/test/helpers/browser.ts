// The system's Chromium (Debian's `chromium` package) driven by playwright-core: no browser is
// downloaded. PHYS_CHROMIUM points elsewhere when the binary lives in another place.
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.PHYS_CHROMIUM ?? '/usr/bin/chromium';

/** Where the tests leave their screenshots (git-ignored). */
export const SCREENSHOTS = fileURLToPath(new URL('../../test-results/dashboard/', import.meta.url));

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `No Chromium at ${CHROMIUM}: the dashboard tests drive the system's browser. Install it (\`apt-get install chromium\` on Debian; .ci/run does) or point PHYS_CHROMIUM at one.`,
    );
  }
  mkdirSync(SCREENSHOTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // CI runs as root, where Chromium's sandbox cannot start.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}

/** Saves a screenshot of the page as test-results/dashboard/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: false });
}
