// Long support conversations load their newest page first, on both sides; scrolling to the top
// fetches older pages (`history {before_seq}`), keeping the reader's place.
import { test, expect } from "./fixtures";
import { addAccount, openConsole, openFromQueue, showFilter, startSupport } from "./support-helpers";

test("older support messages load when scrolling up, for the customer and the agent", async ({ people }) => {
  test.setTimeout(150_000);
  const customer = await people.create("Sam");
  await startSupport(customer);
  const total = 62;
  for (let i = 1; i <= total; i++) {
    await customer.send(`support message ${i}`);
    await expect(customer.status(`support message ${i}`)).not.toHaveText("sending");
  }

  // A returning customer gets the newest 50 first, scrolled to the bottom.
  await customer.page.reload();
  await expect(customer.page.getByTestId("conn-state")).toHaveText("online");
  await expect(customer.bodies().last()).toHaveText(`support message ${total}`);
  await expect(customer.page.getByTestId("message")).toHaveCount(50);
  await expect(customer.message(`support message ${total}`)).toBeInViewport();
  await customer.page.getByTestId("message-list").evaluate((el) => {
    el.scrollTop = 0;
  });
  await expect(customer.page.getByTestId("message")).toHaveCount(total);
  await expect(customer.bodies().first()).toHaveText("support message 1");
  await expect(customer.page.getByTestId("history-start")).toBeVisible();
  await expect(customer.message("support message 13")).toBeInViewport();

  // The agent opening it: the newest page, then the rest on scrolling up.
  const tess = await people.create("tess");
  addAccount(tess.name);
  await openConsole(tess);
  // An available agent coming online takes waiting conversations: it may be hers already.
  await showFilter(tess, "open");
  await openFromQueue(tess, customer.name);
  await expect(tess.page.getByTestId("message")).toHaveCount(50);
  await expect(tess.message(`support message ${total}`)).toBeInViewport();
  await tess.page.getByTestId("message-list").evaluate((el) => {
    el.scrollTop = 0;
  });
  await expect(tess.page.getByTestId("message")).toHaveCount(total);
  await expect(tess.bodies().first()).toHaveText("support message 1");
});
