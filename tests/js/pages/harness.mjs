// Shared by the browser page checks (demo.mjs, admin.mjs): command line,
// headless Chromium, screenshots, and the one-line JSON verdict.

import { existsSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { chromium } from "playwright-core";

/** The repository root (tests/js/pages/../../..). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** Where screenshots go: `<repo>/target/test-artifacts`. */
export const ARTIFACTS = join(REPO_ROOT, "target", "test-artifacts");

/** How long any single expectation may wait. */
export const WAIT_MS = 15000;

/**
 * Parses `--name value` options; every option also reads `env[name]`.
 * @param {Record<string, {env?: string, default?: string}>} spec
 */
export function options(spec) {
  const { values } = parseArgs({
    options: Object.fromEntries(Object.keys(spec).map((name) => [name, { type: "string" }])),
    strict: true,
  });
  const out = {};
  for (const [name, { env, default: fallback }] of Object.entries(spec)) {
    out[name] = values[name] ?? (env ? process.env[env] : undefined) ?? fallback;
  }
  return out;
}

/**
 * Chromium: `$CHROMIUM_PATH`, else the system's /usr/bin/chromium, else the
 * one Playwright installed itself (`npx playwright-core install chromium`).
 */
export async function launch() {
  const candidates = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"];
  const executablePath = candidates.find((path) => path && existsSync(path));
  return chromium.launch({
    executablePath,
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
}

/**
 * Runs `body(run)` with a fresh browser and prints one JSON line:
 * `{"page":…,"ok":true,"checks":[…]}`, or `"ok":false` with the failed
 * check and its error, then exits 1. `run.check(name, fn)` records one step.
 * A screenshot of every open page is saved on failure.
 */
export async function main(name, body) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const checks = [];
  const pages = [];
  const pageErrors = [];
  const cleanups = [];
  let browser;
  const run = {
    /** Opens a page, recording its uncaught errors and failed console lines. */
    async page(label, viewport = { width: 1280, height: 900 }) {
      const context = await browser.newContext({ viewport });
      const page = await context.newPage();
      page.setDefaultTimeout(WAIT_MS);
      page.on("pageerror", (error) => pageErrors.push(`${label}: ${error.message}`));
      page.on("console", (message) => {
        if (message.type() === "error") console.error(`[${label} console] ${message.text()}`);
      });
      pages.push({ label, page });
      return page;
    },
    async check(what, fn) {
      const started = Date.now();
      try {
        const detail = await fn();
        checks.push({ check: what, ms: Date.now() - started, ...(detail === undefined ? {} : { detail }) });
      } catch (error) {
        error.check = what;
        throw error;
      }
    },
    async screenshot(page, file) {
      const path = join(ARTIFACTS, file);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
    /** Runs `fn` at the end, pass or fail (closing test clients). */
    cleanup(fn) {
      cleanups.push(fn);
    },
  };
  let failure = null;
  try {
    browser = await launch();
    await body(run);
    if (pageErrors.length) throw Object.assign(new Error(`uncaught errors in the page: ${pageErrors.join("; ")}`), { check: "no page errors" });
  } catch (error) {
    failure = error;
  }
  if (failure) {
    for (const { label, page } of pages) {
      try {
        await run.screenshot(page, `${name}-${label}-failure.png`);
      } catch (_) {
        // the page may be gone
      }
    }
  }
  for (const fn of cleanups.reverse()) {
    try {
      await fn();
    } catch (_) {
      // best effort
    }
  }
  try {
    if (browser) await browser.close();
  } catch (_) {
    // already gone
  }
  const verdict = { page: name, ok: !failure, checks };
  if (failure) {
    verdict.failed = failure.check || "setup";
    verdict.error = String(failure.stack || failure);
    verdict.page_errors = pageErrors;
  }
  console.log(JSON.stringify(verdict));
  process.exit(failure ? 1 : 0);
}

/** Polls `fn` until it returns a truthy value; throws `message()` on timeout. */
export async function eventually(fn, message, timeoutMs = WAIT_MS) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(typeof message === "function" ? message() : message);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Rejects after `ms` with `what`, unless `promise` settles first. */
export function within(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
