import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's chromium, driven by playwright-core: nothing is downloaded at install time. */
const CHROMIUM = '/usr/bin/chromium';

/**
 * Whether the browser tests can run. CI installs chromium (.ci/run) and must run them; a developer machine without it
 * skips them with a reason.
 */
export function chromiumAvailable(suite: string): boolean {
  const available = existsSync(CHROMIUM);
  if (!available && process.env.CI === 'true') throw new Error(`${CHROMIUM} is missing: .ci/run installs it`);
  if (!available) console.warn(`Skipping the ${suite} browser test: no ${CHROMIUM} (apt-get install chromium).`);
  return available;
}

/** Headless, offline-friendly flags: without the background-networking one, chromium keeps dialling Google's hosts. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}
