// A dropped socket: the UI says "reconnecting", a message written meanwhile waits as
// "sending", and after the reconnect it goes out once (same client_msg_id) while what the
// other side sent in between arrives once. Nothing missing, nothing twice.
import { test, expect } from "./fixtures";

declare global {
  interface Window {
    __sockets: WebSocket[];
    __blockSockets: boolean;
  }
}

test("after a reconnect nothing is missing and nothing is shown twice", async ({ people }) => {
  const alice = await people.create("alice");
  const bob = await people.create("bob");
  // Lets the test drop Alice's socket and hold off her reconnects.
  await alice.page.addInitScript(() => {
    const Native = window.WebSocket;
    window.__sockets = [];
    window.__blockSockets = false;
    class Tracked extends Native {
      constructor(url: string | URL, protocols?: string | string[]) {
        if (window.__blockSockets) {
          throw new DOMException("blocked by the test", "NetworkError");
        }
        super(url, protocols);
        window.__sockets.push(this);
      }
    }
    window.WebSocket = Tracked;
  });
  await alice.register();
  await bob.register();
  await alice.openConversation(bob.name);
  await alice.send("before the drop");
  await bob.listItem(alice.name).click();
  await expect(bob.message("before the drop")).toBeVisible();

  // Drop Alice's socket and keep her offline for a moment.
  await alice.page.evaluate(() => {
    window.__blockSockets = true;
    window.__sockets.forEach((s) => s.close());
  });
  await expect(alice.page.getByTestId("conn-state")).toHaveText("reconnecting");
  await alice.send("written while offline");
  await expect(alice.status("written while offline")).toHaveText("sending");
  await expect(bob.page.getByTestId("chat-presence")).toHaveText("offline");
  await bob.send("sent while alice was away");
  await expect(bob.status("sent while alice was away")).toHaveText("saved for later");

  await alice.page.evaluate(() => {
    window.__blockSockets = false;
  });
  await expect(alice.page.getByTestId("conn-state")).toHaveText("online", { timeout: 20_000 });
  await expect(alice.status("written while offline")).toHaveText("read");
  await expect(alice.message("sent while alice was away")).toBeVisible();

  const inSeqOrder = ["before the drop", "sent while alice was away", "written while offline"];
  // Seq order is the server's order: Bob's message was stored first.
  await expect(alice.bodies()).toHaveText(inSeqOrder);
  await expect(bob.bodies()).toHaveText(inSeqOrder);

  // And after a reload, the same — once each.
  await alice.page.reload();
  await alice.expectInApp();
  await expect(alice.bodies()).toHaveText(inSeqOrder);
});
