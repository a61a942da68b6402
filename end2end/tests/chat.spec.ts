// Two people chatting live: both directions, the conversation list (preview, unread badge,
// online dot), typing indicator, Enter / Shift+Enter, delivered and read receipts.
import { test, expect } from "./fixtures";

test("two people chat live both ways with typing and read receipts", async ({ people }) => {
  const alice = await people.create("alice");
  const bob = await people.create("bob");
  await alice.register();
  await bob.register();

  await alice.openConversation(bob.name);
  await expect(alice.page.getByTestId("empty-chat")).toBeVisible();
  await alice.send("Hello Bob");
  await expect(alice.status("Hello Bob")).toHaveText("delivered");
  // A first message went straight through: Bob is online.
  await expect(alice.page.getByTestId("chat-presence")).toHaveText("online");

  // Bob's list: a new conversation with a preview, an unread badge and an online dot.
  const item = bob.listItem(alice.name);
  await expect(item.getByTestId("conv-preview")).toHaveText("Hello Bob");
  await expect(item.getByTestId("unread-badge")).toHaveText("1");
  await expect(item.getByTestId("online-dot")).toHaveAttribute("data-online", "true");
  await expect(alice.status("Hello Bob")).toHaveText("delivered");

  // Bob opens it: the message shows, the badge goes, Alice sees "read".
  await item.click();
  await expect(bob.page.getByTestId("chat-peer")).toHaveText(alice.name);
  await expect(bob.message("Hello Bob")).toBeVisible();
  await expect(item.getByTestId("unread-badge")).toHaveCount(0);
  await expect(alice.status("Hello Bob")).toHaveText("read");

  // Typing: shown to Alice, gone about three seconds after Bob stops.
  await bob.page.getByTestId("composer").pressSequentially("Hi Al", { delay: 30 });
  const typing = alice.page.getByTestId("typing-indicator");
  await expect(typing).toHaveText(`${bob.name} is typing…`);
  await expect(typing).toBeHidden({ timeout: 6_000 });

  // Shift+Enter makes a new line, Enter sends.
  const composer = bob.page.getByTestId("composer");
  await composer.fill("");
  await composer.pressSequentially("line one");
  await composer.press("Shift+Enter");
  await composer.pressSequentially("line two");
  await composer.press("Enter");
  await expect(composer).toHaveValue("");
  const reply = alice.page.getByTestId("message-body").last();
  await expect(reply).toHaveJSProperty("textContent", "line one\nline two");
  // Alice has the conversation open and visible: Bob's message becomes "read" at once.
  await expect(bob.page.getByTestId("msg-status").last()).toHaveText("read");

  // Both sides show the same messages once each, in order.
  for (const person of [alice, bob]) {
    await expect(person.page.getByTestId("message")).toHaveCount(2);
    await expect(person.bodies().first()).toHaveText("Hello Bob");
  }
  await expect(alice.listItem(bob.name).getByTestId("conv-preview")).toHaveText("line one line two");
});
