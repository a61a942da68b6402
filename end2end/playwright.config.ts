// Playwright end-to-end tests of Confab's browser UI.
//
// Runs Debian's chromium (never `npx playwright install`) against the server binary that
// `cargo leptos build` left in target/debug, with a fresh SQLite database in a temporary
// directory per run. Usage, from the repository root:
//   cargo leptos build && (cd end2end && npm ci && npx playwright test)
import { defineConfig } from "@playwright/test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const port = Number(process.env.CONFAB_E2E_PORT ?? 3107);
// The config is evaluated by the runner and again by each worker: the runner makes the directory,
// hands it down through the environment, and removes it when it exits (even after a failed start).
if (!process.env.CONFAB_E2E_DB_DIR) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "confab-e2e-"));
  process.env.CONFAB_E2E_DB_DIR = dir;
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
}
const dbDir = process.env.CONFAB_E2E_DB_DIR;
const repoRoot = path.resolve(__dirname, "..");
const baseURL = `http://127.0.0.1:${port}`;

export default defineConfig({
  testDir: "./tests",
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  forbidOnly: !!process.env.CI,
  reporter: [["list"], ["html", { open: "never" }]],
  use: {
    baseURL,
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    },
  },
  projects: [{ name: "chromium", use: { browserName: "chromium" } }],
  webServer: {
    // CONFAB_E2E_BIN: another server binary (e.g. a copy, while target/ is being rebuilt).
    command: process.env.CONFAB_E2E_BIN ?? "target/debug/confab",
    cwd: repoRoot,
    url: `${baseURL}/healthz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: "ignore",
    stderr: "pipe",
    env: {
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      LEPTOS_SITE_ROOT: "target/site",
      LEPTOS_OUTPUT_NAME: "confab",
      DATABASE_URL: `sqlite://${dbDir}/e2e.db`,
      RUST_LOG: process.env.RUST_LOG ?? "warn",
      // Some tests send 60+ messages as fast as the page answers — two frames each (`typing`,
      // `send`) — which can outrun the per-socket budget (20 frames/s, burst 40) once the
      // server answers quickly; a refused send then shows "not sent" and the test loses a
      // message. People never type that fast; the limit itself is tested in
      // tests/dm_errors.rs (rate_limited_is_reported_when_a_socket_sends_faster_than_its_budget).
      CONFAB_RATE_BURST: "10000",
    },
  },
});
