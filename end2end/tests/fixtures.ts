// Shared helpers: a `people` fixture that opens one browser context per person (two contexts =
// two people), drives the UI through data-testid attributes, and fails the test if any page
// logged a console error or threw (which is also how hydration errors surface).
import { test as base, expect, Browser, BrowserContext, BrowserContextOptions, Locator, Page } from "@playwright/test";

export { expect };

export const PASSWORD = "correct horse battery";

/** Browser-generated network logs for answers the app expects (signed-out `GET /api/me`,
 * wrong password, taken username): not application errors. */
const EXPECTED_CONSOLE = [/Failed to load resource: the server responded with a status of (401|409)/];

/** The agent console page itself answers 403 to a signed-in non-agent (and shows why). */
const EXPECTED_ON_CONSOLE_PAGE = /Failed to load resource: the server responded with a status of 403/;

/** A fresh, valid username (3–32 chars of a-z 0-9 _ . -). */
export function uniqueName(prefix: string): string {
  const suffix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  return `${prefix}_${suffix}`.slice(0, 32);
}

export class Person {
  constructor(
    readonly page: Page,
    readonly name: string,
  ) {}

  /** Waits until the sign-in page is hydrated (its submit button is enabled after hydration). */
  async openLogin(): Promise<void> {
    if (!this.page.url().endsWith("/login")) {
      await this.page.goto("/login");
    }
    await expect(this.page.getByTestId("auth-submit")).toBeEnabled();
  }

  async register(): Promise<void> {
    await this.openLogin();
    await this.page.getByTestId("mode-register").click();
    await expect(this.page.getByTestId("auth-submit")).toHaveText("Create account");
    await this.submitCredentials(this.name, PASSWORD);
    await this.expectInApp();
  }

  async signIn(password = PASSWORD): Promise<void> {
    await this.openLogin();
    await this.page.getByTestId("mode-signin").click();
    await this.submitCredentials(this.name, password);
    await this.expectInApp();
  }

  async submitCredentials(username: string, password: string): Promise<void> {
    await this.page.getByTestId("auth-username").fill(username);
    await this.page.getByTestId("auth-password").fill(password);
    await this.page.getByTestId("auth-submit").click();
  }

  async expectInApp(): Promise<void> {
    await expect(this.page).toHaveURL(/\/(\?.*)?$/);
    await expect(this.page.getByTestId("current-user")).toHaveText(this.name);
    await expect(this.page.getByTestId("conn-state")).toHaveText("online");
  }

  async signOut(): Promise<void> {
    await this.page.getByTestId("sign-out").click();
    await expect(this.page).toHaveURL(/\/login$/);
    await expect(this.page.getByTestId("auth-submit")).toBeEnabled();
  }

  /** Starts (or opens) a conversation through the "new conversation" form. */
  async openConversation(peer: string): Promise<void> {
    await this.page.getByTestId("new-conv-input").fill(peer);
    await this.page.getByTestId("new-conv-input").press("Enter");
    await expect(this.page.getByTestId("chat-peer")).toHaveText(peer);
  }

  listItem(peer: string): Locator {
    return this.page.locator(`[data-testid="conv-item"][data-peer="${peer}"]`);
  }

  async send(text: string): Promise<void> {
    const composer = this.page.getByTestId("composer");
    await composer.fill(text);
    await composer.press("Enter");
    await expect(composer).toHaveValue("");
  }

  bodies(): Locator {
    return this.page.getByTestId("message-body");
  }

  message(text: string): Locator {
    return this.page
      .getByTestId("message")
      .filter({ has: this.page.getByTestId("message-body").getByText(text, { exact: true }) });
  }

  status(text: string): Locator {
    return this.message(text).getByTestId("msg-status");
  }
}

type People = {
  create(prefix: string, options?: BrowserContextOptions): Promise<Person>;
  /** Another tab of the same person (same cookies). */
  secondTab(person: Person): Promise<Person>;
  errors: string[];
};

function watch(page: Page, errors: string[]): void {
  page.on("console", (msg) => {
    const expected =
      EXPECTED_CONSOLE.some((re) => re.test(msg.text())) ||
      (new URL(page.url()).pathname === "/agent" && EXPECTED_ON_CONSOLE_PAGE.test(msg.text()));
    if (msg.type() === "error" && !expected) {
      errors.push(`console error on ${page.url()}: ${msg.text()}`);
    }
  });
  page.on("pageerror", (err) => errors.push(`page error on ${page.url()}: ${err.message}`));
  page.on("dialog", async (dialog) => {
    errors.push(`unexpected dialog: ${dialog.message()}`);
    await dialog.dismiss();
  });
}

async function newPerson(browser: Browser, contexts: BrowserContext[], errors: string[], prefix: string, options?: BrowserContextOptions) {
  const context = await browser.newContext(options);
  contexts.push(context);
  const page = await context.newPage();
  watch(page, errors);
  return new Person(page, uniqueName(prefix));
}

export const test = base.extend<{ people: People }>({
  people: async ({ browser }, use) => {
    const errors: string[] = [];
    const contexts: BrowserContext[] = [];
    await use({
      create: (prefix, options) => newPerson(browser, contexts, errors, prefix, options),
      secondTab: async (person) => {
        const page = await person.page.context().newPage();
        watch(page, errors);
        return new Person(page, person.name);
      },
      errors,
    });
    for (const context of contexts) {
      await context.close();
    }
    expect(errors, "no console errors, page errors or dialogs").toEqual([]);
  },
});

/** CSS colours of the notices (see style/main.css): errors red, information blue. */
export const RED = "rgb(185, 28, 28)";
export const BLUE = "rgb(29, 78, 216)";
