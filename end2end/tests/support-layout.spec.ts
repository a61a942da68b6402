// Customer support on a 360 px wide phone: the customer's chat fills the screen with the
// composer in reach, and the console shows the queue and a conversation one at a time (with a
// back button). Nothing overflows sideways.
import type { Page } from "@playwright/test";
import { test, expect } from "./fixtures";
import { addAccount, banner, goAway, openConsole, openFromQueue, startSupport } from "./support-helpers";

const phone = { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true };

async function noSidewaysScroll(page: Page): Promise<void> {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
}

async function withinScreen(page: Page, testId: string): Promise<void> {
  const box = await page.getByTestId(testId).boundingBox();
  expect(box).not.toBeNull();
  expect(box!.x).toBeGreaterThanOrEqual(0);
  expect(box!.x + box!.width).toBeLessThanOrEqual(360);
  await expect(page.getByTestId(testId)).toBeInViewport();
}

test("a 360 px customer chat and console are usable", async ({ people }) => {
  const nia = await people.create("nia", phone);
  addAccount(nia.name);
  const customer = await people.create("Rae", phone);
  await openConsole(nia);
  await goAway(nia);

  await customer.page.goto("/support");
  await expect(customer.page.getByTestId("support-start-form")).toBeVisible();
  await noSidewaysScroll(customer.page);
  await withinScreen(customer.page, "support-start");
  await startSupport(customer);
  await withinScreen(customer.page, "composer");
  await withinScreen(customer.page, "send-button");
  await customer.send("x".repeat(300));
  await customer.send("hello from a phone");
  await noSidewaysScroll(customer.page);
  await expect(customer.message("hello from a phone")).toBeInViewport();

  // The queue fills the screen; no conversation pane yet.
  await expect(nia.page.getByTestId("queue-side")).toBeVisible();
  await expect(nia.page.getByTestId("empty-pane")).toBeHidden();
  await noSidewaysScroll(nia.page);

  await openFromQueue(nia, customer.name);
  await expect(nia.page.getByTestId("queue-side")).toBeHidden();
  await expect(nia.page.getByTestId("back-button")).toBeVisible();
  await withinScreen(nia.page, "claim");
  await withinScreen(nia.page, "composer");
  await noSidewaysScroll(nia.page);
  await nia.page.getByTestId("claim").click();
  await expect(banner(customer)).toHaveAttribute("data-status", "assigned");
  await nia.send("replying from a phone");
  await expect(customer.message("replying from a phone")).toBeVisible();
  await noSidewaysScroll(customer.page);

  await nia.page.getByTestId("back-button").click();
  await expect(nia.page.getByTestId("queue-side")).toBeVisible();
  await expect(nia.page.getByTestId("support-conversation")).toBeHidden();
  await noSidewaysScroll(nia.page);
});
