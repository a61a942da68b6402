// Message text is text: HTML shows literally and never runs. History survives a reload, with
// every message once and in order. Refused sends show red errors.
import { test, expect, RED, uniqueName } from "./fixtures";

const PAYLOAD = "<img src=x onerror=alert(1)><b>bold</b>";

test("HTML shows literally and the history survives a reload", async ({ people }) => {
  const alice = await people.create("alice");
  const bob = await people.create("bob");
  await alice.register();
  await bob.register();

  await alice.openConversation(bob.name);
  const sent = ["first", PAYLOAD, "<script>alert('x')</script>", "last"];
  for (const text of sent) {
    await alice.send(text);
    await expect(alice.status(text)).toHaveText("delivered");
  }
  await expect(alice.bodies()).toHaveText(sent);
  const injected = "[data-testid=message-body] img, [data-testid=message-body] b, [data-testid=message-body] script";
  await expect(alice.page.locator(injected)).toHaveCount(0);

  await alice.page.reload();
  await alice.expectInApp();
  await expect(alice.page.getByTestId("chat-peer")).toHaveText(bob.name);
  await expect(alice.bodies()).toHaveText(sent);
  await expect(alice.page.getByTestId("history-start")).toBeVisible();
  await expect(alice.page.locator(injected)).toHaveCount(0);

  await bob.listItem(alice.name).click();
  await expect(bob.bodies()).toHaveText(sent);
  await expect(bob.page.locator(injected)).toHaveCount(0);
  await expect(alice.status("last")).toHaveText("read");
  // The preview in the list is text too.
  await expect(bob.listItem(alice.name).getByTestId("conv-preview")).toHaveText("last");
});

test("messages to yourself or to nobody are refused in red", async ({ people }) => {
  const alice = await people.create("alice");
  await alice.register();

  // Caught in the form.
  await alice.page.getByTestId("new-conv-input").fill(alice.name);
  await alice.page.getByTestId("new-conv-input").press("Enter");
  const formError = alice.page.getByTestId("new-conv-error");
  await expect(formError).toContainText("yourself");
  await expect(formError).toHaveCSS("color", RED);

  // Refused by the server (the conversation opened by URL).
  await alice.page.goto(`/?c=${alice.name}`);
  await alice.expectInApp();
  await alice.send("talking to myself");
  await expect(alice.status("talking to myself")).toHaveText("not sent");
  const error = alice.page.getByTestId("notice-error").first();
  await expect(error).toBeVisible();
  await expect(error).toHaveCSS("color", RED);
  await expect(alice.page.getByTestId("notice-info")).toHaveCount(0);

  // A user that does not exist.
  const nobody = uniqueName("nobody");
  await alice.page.goto("/");
  await alice.expectInApp();
  await alice.openConversation(nobody);
  await alice.send("hello?");
  await expect(alice.status("hello?")).toHaveText("not sent");
  await expect(alice.page.getByTestId("notice-error").first()).toContainText(nobody);
  await expect(alice.message("hello?").getByTestId("msg-error")).toBeVisible();
  await alice.message("hello?").getByTestId("discard").click();
  await expect(alice.message("hello?")).toHaveCount(0);
});
