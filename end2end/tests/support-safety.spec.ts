// Who may see what in customer support: HTML shows literally on both sides, a second customer
// (another browser) never sees the first one's conversation, a signed-in non-agent gets a clear
// "not an agent" page, and a signed-out visitor is sent to sign in and then back to the console.
import { test, expect } from "./fixtures";
import {
  addAccount,
  banner,
  expectConsole,
  goAway,
  openConsole,
  openFromQueue,
  queueRow,
  startSupport,
} from "./support-helpers";

const PAYLOAD = `<img src=x onerror="alert('xss')"><b>bold?</b> & "quotes"`;

test("HTML in messages and names shows literally to the customer and the agent", async ({ people }) => {
  const dora = await people.create("dora");
  addAccount(dora.name);
  const customer = await people.create("eve");
  const shownName = `<i>${customer.name}</i>`;

  await openConsole(dora);
  await goAway(dora);
  await startSupport(customer, shownName);
  await customer.send(PAYLOAD);
  const own = customer.message(PAYLOAD);
  await expect(own).toBeVisible();
  await expect(own.locator("img, b")).toHaveCount(0);

  await expect(queueRow(dora, shownName)).toBeVisible();
  await expect(queueRow(dora, shownName).getByTestId("queue-preview")).toHaveText(PAYLOAD);
  await openFromQueue(dora, shownName);
  const seen = dora.message(PAYLOAD);
  await expect(seen).toBeVisible();
  await expect(seen.locator("img, b")).toHaveCount(0);
  await expect(dora.page.locator("[data-testid=queue-list] i")).toHaveCount(0);

  await dora.send(`<script>alert(1)</script>`);
  const reply = customer.message(`<script>alert(1)</script>`);
  await expect(reply).toHaveAttribute("data-role", "agent");
  await expect(reply.locator("script")).toHaveCount(0);
  // No dialog opened anywhere (the fixture fails the test on any dialog).
});

test("another customer's browser cannot see the first conversation", async ({ people, request }) => {
  const first = await people.create("Fay");
  const other = await people.create("Gus");

  await startSupport(first);
  await first.send("my secret order 1234");
  await expect(first.status("my secret order 1234")).toHaveText("sent");

  // Another browser: the name form, then an empty chat of its own.
  await other.page.goto("/support");
  await expect(other.page.getByTestId("support-start-form")).toBeVisible();
  await startSupport(other);
  await expect(other.page.getByTestId("empty-chat")).toBeVisible();
  await expect(other.bodies()).toHaveCount(0);
  await other.send("hello from gus");
  await expect(other.bodies()).toHaveText(["hello from gus"]);
  await expect(first.bodies()).toHaveText(["my secret order 1234"]);

  // Without a session, transcripts are not available (nor with a customer cookie).
  const conversations = await request.get("/api/support/conversations/0123/transcript?format=json");
  expect(conversations.status()).toBe(401);
  const asCustomer = await other.page.request.get("/api/support/conversations/0123/transcript?format=text");
  expect(asCustomer.status()).toBe(401);
  // The customer page never exposes the conversation id or the secret in its URL.
  expect(other.page.url()).toMatch(/\/support$/);
});

test("a signed-in user who is not an agent sees a clear forbidden page", async ({ people }) => {
  const user = await people.create("hal");
  await user.register();
  // The direct-message app offers no console link to ordinary users.
  await expect(user.page.getByTestId("console-link")).toHaveCount(0);
  const response = await user.page.goto("/agent");
  expect(response?.status()).toBe(403);
  const forbidden = user.page.getByTestId("forbidden");
  await expect(forbidden).toBeVisible();
  await expect(forbidden.getByRole("heading")).toHaveText("Not an agent");
  await expect(user.page.getByTestId("forbidden-user")).toHaveText(user.name);
  await expect(user.page.getByTestId("agent-console")).toHaveCount(0);
  await user.page.getByTestId("forbidden-home").click();
  await user.expectInApp();
});

test("a signed-out visitor is sent to sign in, then back to the console", async ({ people }) => {
  const ivy = await people.create("ivy");
  addAccount(ivy.name);
  await ivy.page.goto("/agent");
  await expect(ivy.page).toHaveURL(/\/login\?next=\/agent$/);
  await expect(ivy.page.getByTestId("auth-submit")).toBeEnabled();
  await ivy.submitCredentials(ivy.name, "correct horse battery");
  await expect(ivy.page).toHaveURL(/\/agent$/);
  await expectConsole(ivy);
  // And the console links back to direct messages.
  await ivy.page.getByTestId("messages-link").click();
  await ivy.expectInApp();
  await expect(ivy.page.getByTestId("console-link")).toBeVisible();
});

test("a customer without a name is called Customer; support stays out of the agent's DMs", async ({ people }) => {
  const jo = await people.create("jo");
  addAccount(jo.name);
  const anon = await people.create("anon");
  await openConsole(jo);
  await goAway(jo);
  await startSupport(anon, null);
  await anon.send("no name given");
  await expect(banner(anon)).toHaveAttribute("data-status", "waiting");
  await jo.page.getByTestId("queue-row").filter({ hasText: "no name given" }).click();
  await expect(jo.page.getByTestId("chat-peer")).toHaveText("Customer");
  await jo.page.getByTestId("claim").click();
  await expect(banner(anon)).toHaveText(`${jo.name} joined the conversation`);

  // Support traffic also reaches the agent's direct-message socket; it stays out of the DMs.
  await jo.page.getByTestId("messages-link").click();
  await jo.expectInApp();
  await anon.page.getByTestId("composer").fill("still typing");
  await anon.send("are you still there?");
  await expect(anon.status("are you still there?")).toHaveText("sent");
  await jo.page.waitForTimeout(500);
  await expect(jo.page.getByTestId("conv-item")).toHaveCount(0);
  await expect(jo.page.getByTestId("conv-list")).toContainText("No conversations yet");
});
