// A 360 px wide phone: the list and the conversation stack, with a back button, and nothing
// overflows sideways.
import type { Page } from "@playwright/test";
import { test, expect } from "./fixtures";

async function noSidewaysScroll(page: Page): Promise<void> {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
}

test("a 360 px viewport shows a usable layout", async ({ people }) => {
  const phone = { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true };
  const carol = await people.create("carol", phone);
  const dave = await people.create("dave");

  await carol.openLogin();
  await noSidewaysScroll(carol.page);
  await carol.register();
  await dave.register();
  await dave.openConversation(carol.name);
  await dave.send("hi carol");

  // The list fills the screen; no conversation pane yet.
  const sidebar = carol.page.getByTestId("sidebar");
  await expect(sidebar).toBeVisible();
  await expect(carol.page.getByTestId("empty-pane")).toBeHidden();
  await noSidewaysScroll(carol.page);

  await carol.listItem(dave.name).click();
  await expect(carol.page.getByTestId("conversation")).toBeVisible();
  await expect(sidebar).toBeHidden();
  await expect(carol.page.getByTestId("back-button")).toBeVisible();
  await expect(carol.message("hi carol")).toBeVisible();

  const composer = carol.page.getByTestId("composer");
  const box = await composer.boundingBox();
  expect(box).not.toBeNull();
  expect(box!.x).toBeGreaterThanOrEqual(0);
  expect(box!.x + box!.width).toBeLessThanOrEqual(360);
  await expect(carol.page.getByTestId("send-button")).toBeInViewport();

  const long = "x".repeat(400);
  await carol.send(long);
  await carol.send("hello dave");
  await expect(dave.message("hello dave")).toBeVisible();
  await noSidewaysScroll(carol.page);

  await carol.page.getByTestId("back-button").click();
  await expect(sidebar).toBeVisible();
  await expect(carol.page.getByTestId("conversation")).toBeHidden();
  await expect(carol.listItem(dave.name).getByTestId("conv-preview")).toHaveText("You: hello dave");
});
