// Offline delivery, as in the seed tutorial: a message to someone signed out is saved (blue
// notice, "saved for later"), reaches them when they sign in, and the sender then sees
// "delivered" (and "read" once they open it).
import { test, expect, BLUE } from "./fixtures";

test("a message to a signed-out person is saved, then delivered when they sign in", async ({ people }) => {
  const alice = await people.create("alice");
  const bob = await people.create("bob");
  await alice.register();
  await bob.register();
  await bob.signOut();

  await alice.openConversation(bob.name);
  await expect(alice.page.getByTestId("chat-presence")).toHaveText("offline");
  await alice.send("Are you there?");

  const info = alice.page.getByTestId("notice-info");
  await expect(info).toContainText(`Saved — will be delivered when ${bob.name} comes online`);
  await expect(info).toHaveCSS("color", BLUE);
  await expect(alice.page.getByTestId("notice-error")).toHaveCount(0);
  await expect(alice.status("Are you there?")).toHaveText("saved for later");

  await bob.signIn();
  const item = bob.listItem(alice.name);
  await expect(item.getByTestId("unread-badge")).toHaveText("1");
  await expect(item.getByTestId("conv-preview")).toHaveText("Are you there?");
  await expect(alice.status("Are you there?")).toHaveText("delivered");
  await expect(alice.page.getByTestId("chat-presence")).toHaveText("online");

  await item.click();
  await expect(bob.message("Are you there?")).toBeVisible();
  await expect(alice.status("Are you there?")).toHaveText("read");
});
