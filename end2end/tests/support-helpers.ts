// Helpers of the customer-support specs (support*.spec.ts): agents made with the server's own
// CLI against the e2e database, a customer starting a chat on /support, an agent opening the
// console, and locators for the queue and the open conversation. People are the `Person`s of
// fixtures.ts (their message/status helpers work on every chat view: same data-testids).
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import type { Locator, Page } from "@playwright/test";
import { expect, PASSWORD, Person } from "./fixtures";

const repoRoot = path.resolve(__dirname, "..", "..");

/** Creates an account with `confab user add <name> --role <role>` (the only way to make agents),
 * on the same SQLite database as the server under test (WAL lets two processes share it). The
 * password is PASSWORD, so `Person.signIn()` works. */
export function addAccount(name: string, role: "user" | "agent" | "admin" = "agent"): void {
  const dbDir = process.env.CONFAB_E2E_DB_DIR;
  if (!dbDir) {
    throw new Error("CONFAB_E2E_DB_DIR is not set (playwright.config.ts sets it)");
  }
  const bin = path.resolve(repoRoot, process.env.CONFAB_E2E_BIN ?? "target/debug/confab");
  execFileSync(bin, ["user", "add", name, "--role", role], {
    cwd: repoRoot,
    input: `${PASSWORD}\n`,
    env: { ...process.env, DATABASE_URL: `sqlite://${dbDir}/e2e.db`, RUST_LOG: "warn" },
    stdio: ["pipe", "pipe", "pipe"],
    timeout: 30_000,
  });
}

/** Opens /support as a new visitor, gives a name (optional) and starts the chat. */
export async function startSupport(customer: Person, name: string | null = customer.name): Promise<void> {
  const page = customer.page;
  await page.goto("/support");
  await expect(page.getByTestId("support-start-form")).toBeVisible();
  if (name !== null) {
    await page.getByTestId("support-name").fill(name);
  }
  await page.getByTestId("support-start").click();
  await expect(page.getByTestId("support-chat")).toBeVisible();
  await expect(page.getByTestId("conn-state")).toHaveText("online");
}

/** The customer's banner: new | waiting | assigned | resolved. */
export function banner(customer: Person): Locator {
  return customer.page.getByTestId("support-status");
}

/** Signs an agent in (account made with `addAccount`) and goes to the console through the
 * "Support console" link of the direct-message app. */
export async function openConsole(agent: Person): Promise<void> {
  await agent.signIn();
  await agent.page.getByTestId("console-link").click();
  await expect(agent.page).toHaveURL(/\/agent(\?.*)?$/);
  await expectConsole(agent);
}

export async function expectConsole(agent: Person): Promise<void> {
  await expect(agent.page.getByTestId("agent-console")).toBeVisible();
  await expect(agent.page.getByTestId("current-user")).toHaveText(agent.name);
  await expect(agent.page.getByTestId("conn-state")).toHaveText("online");
}

/** Switches the agent to Away, so nothing is assigned to them automatically. */
export async function goAway(agent: Person): Promise<void> {
  const toggle = agent.page.getByTestId("availability");
  await expect(toggle).toHaveAttribute("data-available", "true");
  await toggle.click();
  await expect(toggle).toHaveAttribute("data-available", "false");
  await expect(toggle).toHaveText("Away");
}

export async function showFilter(agent: Person, filter: "waiting" | "mine" | "open" | "resolved"): Promise<void> {
  const tab = agent.page.locator(`[data-testid="queue-filter"][data-filter="${filter}"]`);
  await tab.click();
  await expect(tab).toHaveAttribute("aria-selected", "true");
}

/** The queue row of the customer called `customer` (in the filter shown). */
export function queueRow(agent: Person, customer: string): Locator {
  const page: Page = agent.page;
  return page
    .getByTestId("queue-row")
    .filter({ has: page.getByTestId("queue-customer").getByText(customer, { exact: true }) });
}

/** Opens a customer's conversation from the queue (in the filter shown). */
export async function openFromQueue(agent: Person, customer: string): Promise<void> {
  await queueRow(agent, customer).click();
  await expect(agent.page.getByTestId("chat-peer")).toHaveText(customer);
  await expect(agent.page.getByTestId("support-conversation")).toBeVisible();
}

/** The front conversation's status line on the console. */
export function convStatus(agent: Person): Locator {
  return agent.page.getByTestId("conv-status");
}

/** Tracks the page's WebSockets so a test can drop them and hold off reconnects, and records
 * every frame the page sends. Call before the page loads. */
export async function trackSockets(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const Native = window.WebSocket;
    const w = window as unknown as { __sockets: WebSocket[]; __blockSockets: boolean; __sent: string[] };
    w.__sockets = [];
    w.__blockSockets = false;
    w.__sent = [];
    class Tracked extends Native {
      constructor(url: string | URL, protocols?: string | string[]) {
        if (w.__blockSockets) {
          throw new DOMException("blocked by the test", "NetworkError");
        }
        super(url, protocols);
        w.__sockets.push(this);
      }
      send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
        if (typeof data === "string") {
          w.__sent.push(data);
        }
        super.send(data);
      }
    }
    window.WebSocket = Tracked;
  });
}

/** Drops every socket of the page and keeps it from reconnecting until `reconnect`. */
export async function dropSockets(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { __sockets: WebSocket[]; __blockSockets: boolean; __sent: string[] };
    w.__blockSockets = true;
    w.__sent = [];
    w.__sockets.forEach((s) => s.close());
  });
}

export async function reconnect(page: Page): Promise<void> {
  await page.evaluate(() => {
    (window as unknown as { __blockSockets: boolean }).__blockSockets = false;
  });
}

/** The frames the page sent since the last `dropSockets`, parsed. */
export async function sentFrames(page: Page): Promise<Record<string, unknown>[]> {
  const raw = await page.evaluate(() => (window as unknown as { __sent: string[] }).__sent);
  return raw.map((f) => JSON.parse(f) as Record<string, unknown>);
}
