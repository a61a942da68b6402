// Long conversations load their newest page first; scrolling to the top fetches older pages.
import { test, expect } from "./fixtures";

test("older messages load when scrolling up", async ({ people }) => {
  test.setTimeout(120_000);
  const alice = await people.create("alice");
  const bob = await people.create("bob");
  await alice.register();
  await bob.register();
  await alice.openConversation(bob.name);

  const total = 65;
  for (let i = 1; i <= total; i++) {
    await alice.send(`message number ${i}`);
    await expect(alice.status(`message number ${i}`)).not.toHaveText("sending");
  }

  // Bob received all of them live; a reload leaves him with the conversation list only.
  await bob.page.reload();
  await bob.expectInApp();
  await bob.listItem(alice.name).click();
  await expect(bob.bodies().last()).toHaveText(`message number ${total}`);
  // The newest page (50) first, scrolled to the bottom.
  await expect(bob.page.getByTestId("message")).toHaveCount(50);
  await expect(bob.message(`message number ${total}`)).toBeInViewport();

  await bob.page.getByTestId("message-list").evaluate((el) => {
    el.scrollTop = 0;
  });
  await expect(bob.page.getByTestId("message")).toHaveCount(total);
  await expect(bob.bodies().first()).toHaveText("message number 1");
  await expect(bob.page.getByTestId("history-start")).toBeVisible();
  // The message that was at the top stays in view (no jump to the very top or bottom).
  await expect(bob.message("message number 16")).toBeInViewport();
});
