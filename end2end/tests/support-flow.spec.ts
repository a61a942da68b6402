// The customer-support flow from issue 4, through the UI of both sides: a customer starts a chat
// on /support, an agent sees it in the queue without reloading, opens and claims it and
// replies; the customer sees "<agent> joined" and the reply as the agent's. Closing and
// reopening the customer's page and reloading the console both bring the whole conversation
// back. Resolve → the customer sees it; the customer writes again → it is back in the queue;
// transfer to a second agent, who carries on. Typing, read receipts and transcripts too.
import { test, expect, RED } from "./fixtures";
import {
  addAccount,
  banner,
  convStatus,
  expectConsole,
  goAway,
  openConsole,
  openFromQueue,
  queueRow,
  showFilter,
  startSupport,
} from "./support-helpers";

test("a customer and agents carry a support conversation from first message to transfer", async ({ people }) => {
  test.setTimeout(120_000);
  const ann = await people.create("ann");
  const bob = await people.create("bob");
  addAccount(ann.name);
  addAccount(bob.name);
  const customer = await people.create("Quinn");

  // The agent is in the console, away (so nothing is assigned to her automatically).
  await openConsole(ann);
  await goAway(ann);

  // A new visitor: optional name, then the chat; first they are told to write.
  await startSupport(customer);
  await expect(banner(customer)).toHaveAttribute("data-status", "new");
  await customer.send("hello, my order never came");
  const first = customer.message("hello, my order never came");
  await expect(first).toHaveAttribute("data-own", "true");
  await expect(customer.status("hello, my order never came")).toHaveText("sent");
  await expect(first.locator("time")).toHaveText(/^\d\d:\d\d$/);
  await expect(banner(customer)).toHaveAttribute("data-status", "waiting");
  await expect(banner(customer)).toHaveText("Waiting for an agent…");

  // The agent sees it waiting, live: name, last message, waiting time, unread count.
  const row = queueRow(ann, customer.name);
  await expect(row).toBeVisible();
  await expect(row.getByTestId("queue-preview")).toHaveText("hello, my order never came");
  await expect(row.getByTestId("queue-unread")).toHaveText("1");
  await expect(row.getByTestId("queue-wait")).toHaveText(/^\d+s$/);
  const waited = await row.getByTestId("queue-wait").textContent();
  await expect(row.getByTestId("queue-wait")).not.toHaveText(waited!, { timeout: 5_000 });

  // Open it: the customer's message, marked as the customer's; the customer sees it read.
  await openFromQueue(ann, customer.name);
  const conversationId = new URL(ann.page.url()).searchParams.get("c");
  expect(conversationId).toMatch(/^[0-9a-f]{32}$/);
  await expect(ann.message("hello, my order never came")).toHaveAttribute("data-role", "customer");
  await expect(ann.message("hello, my order never came")).toHaveAttribute("data-own", "false");
  await expect(convStatus(ann)).toHaveAttribute("data-status", "open");
  await expect(customer.status("hello, my order never came")).toHaveText("read");

  // The customer types; the agent sees it.
  await customer.page.getByTestId("composer").fill("order number");
  await expect(ann.page.getByTestId("typing-indicator")).toHaveText(`${customer.name} is typing…`);
  await customer.page.getByTestId("composer").press("Enter");
  await expect(ann.message("order number")).toBeVisible();

  // Claim: the customer is told who joined.
  await ann.page.getByTestId("claim").click();
  await expect(convStatus(ann)).toHaveText("Assigned to you");
  await expect(banner(customer)).toHaveAttribute("data-status", "assigned");
  await expect(banner(customer)).toHaveText(`${ann.name} joined the conversation`);
  await showFilter(ann, "mine");
  await expect(queueRow(ann, customer.name)).toBeVisible();

  // The agent types and replies; the customer sees the reply as the agent's, with her name.
  await ann.page.getByTestId("composer").fill("Sorry");
  await expect(customer.page.getByTestId("typing-indicator")).toHaveText(`${ann.name} is typing…`);
  await ann.page.getByTestId("composer").fill("Sorry! It ships today.");
  await ann.page.getByTestId("composer").press("Enter");
  const reply = customer.message("Sorry! It ships today.");
  await expect(reply).toHaveAttribute("data-own", "false");
  await expect(reply).toHaveAttribute("data-role", "agent");
  await expect(reply.getByTestId("msg-author")).toHaveText(ann.name);
  await expect(customer.page.getByTestId("typing-indicator")).toHaveCount(0);
  await expect(ann.status("Sorry! It ships today.")).toHaveText("read");

  // The customer closes the page and comes back: the whole conversation, no name form.
  const back = await people.secondTab(customer);
  await customer.page.close();
  await back.page.goto("/support");
  await expect(back.page.getByTestId("support-chat")).toBeVisible();
  const whole = ["hello, my order never came", "order number", "Sorry! It ships today."];
  await expect(back.bodies()).toHaveText(whole);
  await expect(back.message("Sorry! It ships today.")).toHaveAttribute("data-role", "agent");
  await expect(back.message("order number")).toHaveAttribute("data-own", "true");
  await expect(banner(back)).toHaveText(`${ann.name} joined the conversation`);

  // The agent reloads: the open tab comes back with everything.
  await ann.page.reload();
  await expectConsole(ann);
  await expect(ann.page.getByTestId("chat-peer")).toHaveText(customer.name);
  await expect(ann.bodies()).toHaveText(whole);

  // Transcripts, as text and JSON.
  const text = await ann.page.request.get((await ann.page.getByTestId("transcript-text").getAttribute("href"))!);
  expect(text.status()).toBe(200);
  expect(await text.text()).toContain(`${ann.name} (agent): Sorry! It ships today.`);
  const json = await ann.page.request.get((await ann.page.getByTestId("transcript-json").getAttribute("href"))!);
  expect(json.status()).toBe(200);
  const transcript = await json.json();
  expect(transcript.conversation_id).toBe(conversationId);
  expect(transcript.messages.map((m: { body: string }) => m.body)).toEqual(whole);

  // Resolve: the customer sees it; it moves to Resolved.
  await ann.page.getByTestId("resolve").click();
  await expect(convStatus(ann)).toHaveText("Resolved");
  await expect(banner(back)).toHaveAttribute("data-status", "resolved");
  await showFilter(ann, "resolved");
  await expect(queueRow(ann, customer.name)).toBeVisible();

  // The customer writes again: the conversation reopens and waits in the queue.
  await back.send("one more thing");
  await expect(banner(back)).toHaveAttribute("data-status", "waiting");
  await showFilter(ann, "waiting");
  await expect(queueRow(ann, customer.name)).toBeVisible();
  await expect(queueRow(ann, customer.name).getByTestId("queue-preview")).toHaveText("one more thing");
  await expect(convStatus(ann)).toHaveText(/^Waiting for \d+s$/);
  await expect(ann.message("one more thing")).toBeVisible();

  // Transfer to someone who is not an agent: refused, in red.
  await ann.page.getByTestId("transfer-input").fill("nobody_at_all");
  await ann.page.getByTestId("transfer").click();
  const error = ann.page.getByTestId("notice-error");
  await expect(error).toContainText("nobody_at_all");
  await expect(error).toHaveCSS("color", RED);

  // Transfer to bob (offline): the customer is told; ann can no longer reply without claiming.
  await ann.page.getByTestId("transfer-input").fill(bob.name);
  await ann.page.getByTestId("transfer").click();
  await expect(convStatus(ann)).toHaveText(`Assigned to ${bob.name}`);
  await expect(banner(back)).toHaveText(`${bob.name} joined the conversation`);
  await expect(ann.page.getByTestId("claim-bar")).toContainText(bob.name);
  await expect(ann.page.getByTestId("composer")).toHaveCount(0);

  // bob signs in, finds it under Mine and carries on.
  await openConsole(bob);
  await showFilter(bob, "mine");
  await openFromQueue(bob, customer.name);
  await expect(bob.bodies()).toHaveText([...whole, "one more thing"]);
  await bob.send("Hi, Bob here. What else can I do?");
  const fromBob = back.message("Hi, Bob here. What else can I do?");
  await expect(fromBob.getByTestId("msg-author")).toHaveText(bob.name);
  // ann sees bob's reply too, labelled with his name.
  await expect(ann.message("Hi, Bob here. What else can I do?").getByTestId("msg-author")).toHaveText(bob.name);
});

test("an available agent gets new conversations automatically and can open several at once", async ({ people }) => {
  const cara = await people.create("cara");
  addAccount(cara.name);
  const first = await people.create("Mia");
  const second = await people.create("Noah");

  await openConsole(cara);
  await expect(cara.page.getByTestId("availability")).toHaveText("Available");

  await startSupport(first);
  await first.send("first customer here");
  await startSupport(second);
  await second.send("second customer here");
  // Both were assigned to the available agent: they are "Mine", and each customer knows.
  await expect(banner(first)).toHaveText(`${cara.name} joined the conversation`);
  await expect(banner(second)).toHaveText(`${cara.name} joined the conversation`);
  await showFilter(cara, "mine");
  await openFromQueue(cara, first.name);
  await openFromQueue(cara, second.name);

  // Two tabs; switching keeps each conversation's own messages and draft.
  const tabs = cara.page.getByTestId("conv-tab");
  await expect(tabs).toHaveCount(2);
  await cara.page.getByTestId("composer").fill("draft for Noah");
  await tabs.filter({ hasText: first.name }).getByRole("link").click();
  await expect(cara.page.getByTestId("chat-peer")).toHaveText(first.name);
  await expect(cara.bodies()).toHaveText(["first customer here"]);
  await expect(cara.page.getByTestId("composer")).toHaveValue("");
  await cara.send("hello Mia");
  await expect(first.message("hello Mia")).toBeVisible();

  // A message in the tab behind shows as unread on its tab, then in the conversation.
  await second.send("are you there?");
  await expect(tabs.filter({ hasText: second.name }).locator(".badge")).toHaveText("1");
  await tabs.filter({ hasText: second.name }).getByRole("link").click();
  await expect(cara.bodies()).toHaveText(["second customer here", "are you there?"]);
  await expect(cara.page.getByTestId("composer")).toHaveValue("draft for Noah");
  await expect(second.status("are you there?")).toHaveText("read");

  // Closing a tab shows the other one.
  await tabs.filter({ hasText: second.name }).getByTestId("close-tab").click();
  await expect(tabs).toHaveCount(1);
  await expect(cara.page.getByTestId("chat-peer")).toHaveText(first.name);

  // Away is remembered across a reload.
  await goAway(cara);
  await cara.page.reload();
  await expectConsole(cara);
  await expect(cara.page.getByTestId("availability")).toHaveText("Away");
});
