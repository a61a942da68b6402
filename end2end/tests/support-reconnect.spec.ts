// Dropped sockets in support, on both sides: the page says "reconnecting", what is written
// meanwhile waits as "sending" and goes out once after the reconnect (same client_msg_id),
// what the other side wrote meanwhile arrives once. The catch-up is keyed to the last seq
// seen (`sync {after_seq}`; per open conversation on the console), never a time window.
import { test, expect } from "./fixtures";
import {
  addAccount,
  dropSockets,
  goAway,
  openConsole,
  openFromQueue,
  reconnect,
  sentFrames,
  startSupport,
  trackSockets,
} from "./support-helpers";

test("the customer's page recovers from a dropped socket: nothing missing, nothing twice", async ({ people }) => {
  const kim = await people.create("kim");
  addAccount(kim.name);
  const customer = await people.create("Lou");
  await trackSockets(customer.page);

  await openConsole(kim);
  await goAway(kim);
  await startSupport(customer);
  await customer.send("before the drop");
  await openFromQueue(kim, customer.name);
  await kim.page.getByTestId("claim").click();
  await expect(customer.status("before the drop")).toHaveText("read");

  await dropSockets(customer.page);
  await expect(customer.page.getByTestId("conn-state")).toHaveText("reconnecting");
  await customer.send("written while offline");
  await expect(customer.status("written while offline")).toHaveText("sending");
  await kim.send("sent while the customer was away");
  await expect(kim.status("sent while the customer was away")).toHaveText("sent");

  await reconnect(customer.page);
  await expect(customer.page.getByTestId("conn-state")).toHaveText("online", { timeout: 20_000 });
  await expect(customer.message("sent while the customer was away")).toBeVisible();
  await expect(customer.status("written while offline")).toHaveText("read");

  // Caught up from the last seq seen, and the unacknowledged message resent with its id.
  const frames = await sentFrames(customer.page);
  expect(frames).toContainEqual({ type: "sync", after_seq: 1 });
  const resent = frames.filter((f) => f.type === "send");
  expect(resent).toHaveLength(1);
  expect(resent[0].body).toBe("written while offline");

  const inSeqOrder = ["before the drop", "sent while the customer was away", "written while offline"];
  await expect(customer.bodies()).toHaveText(inSeqOrder);
  await expect(kim.bodies()).toHaveText(inSeqOrder);

  await customer.page.reload();
  await expect(customer.page.getByTestId("conn-state")).toHaveText("online");
  await expect(customer.bodies()).toHaveText(inSeqOrder);
});

test("the console catches up every open conversation from its own last seq", async ({ people }) => {
  const max = await people.create("max");
  addAccount(max.name);
  const one = await people.create("Ola");
  const two = await people.create("Pia");
  await trackSockets(max.page);

  await openConsole(max);
  await goAway(max);
  await startSupport(one);
  await one.send("one: first");
  await startSupport(two);
  await two.send("two: first");
  await two.send("two: second");
  await openFromQueue(max, one.name);
  await openFromQueue(max, two.name);
  const ids = await max.page
    .getByTestId("conv-tab")
    .evaluateAll((tabs) => tabs.map((t) => t.getAttribute("data-conversation")));
  expect(ids).toHaveLength(2);

  await dropSockets(max.page);
  await expect(max.page.getByTestId("conn-state")).toHaveText("reconnecting");
  await one.send("one: while the agent was away");
  await two.send("two: while the agent was away");
  await max.send("reply written offline");
  await expect(max.status("reply written offline")).toHaveText("sending");

  await reconnect(max.page);
  await expect(max.page.getByTestId("conn-state")).toHaveText("online", { timeout: 20_000 });
  await expect(max.bodies()).toHaveText([
    "two: first",
    "two: second",
    "two: while the agent was away",
    "reply written offline",
  ]);
  await expect(two.message("reply written offline")).toHaveAttribute("data-role", "agent");
  await expect(two.bodies()).toHaveText([
    "two: first",
    "two: second",
    "two: while the agent was away",
    "reply written offline",
  ]);

  const frames = await sentFrames(max.page);
  expect(frames[0]).toEqual({ type: "queue" });
  expect(frames).toContainEqual({ type: "sync", conversation_id: ids[0], after_seq: 1 });
  expect(frames).toContainEqual({ type: "sync", conversation_id: ids[1], after_seq: 2 });
  expect(frames.filter((f) => f.type === "send")).toHaveLength(1);

  await max.page.getByTestId("conv-tab").filter({ hasText: one.name }).getByRole("link").click();
  await expect(max.bodies()).toHaveText(["one: first", "one: while the agent was away"]);
});
