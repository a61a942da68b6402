// Sign-in and registration: server-rendered pages hydrate cleanly, errors show in red, and
// signing out (in any tab) leads back to the sign-in page.
import { test, expect, PASSWORD, RED, uniqueName } from "./fixtures";

test("the pages are server-rendered and a signed-out visit to / goes to /login", async ({ people, request }) => {
  const login = await request.get("/login");
  expect(login.status()).toBe(200);
  const html = await login.text();
  expect(html).toContain('data-testid="auth-form"');
  expect(html).toContain("/pkg/confab.css");

  const root = await request.get("/");
  expect(root.status()).toBe(200);
  expect(await root.text()).toContain('data-testid="splash"');

  const visitor = await people.create("visitor");
  await visitor.page.goto("/");
  await expect(visitor.page).toHaveURL(/\/login$/);
  await expect(visitor.page.getByTestId("auth-submit")).toBeEnabled();
  await expect(visitor.page.getByTestId("auth-submit")).toHaveText("Sign in");
});

test("register, sign out, sign back in; server errors show in red", async ({ people }) => {
  const alice = await people.create("alice");
  await alice.register();
  await alice.signOut();

  // Wrong password: the server's 401 message, in red.
  await alice.page.getByTestId("mode-signin").click();
  await alice.submitCredentials(alice.name, "not the password");
  const error = alice.page.getByTestId("auth-error");
  await expect(error).toBeVisible();
  await expect(error).toHaveCSS("color", RED);
  await expect(alice.page).toHaveURL(/\/login$/);

  // Taken username: the server's 409 message, in red.
  await alice.page.getByTestId("mode-register").click();
  await expect(error).toHaveCount(0);
  await alice.submitCredentials(alice.name, PASSWORD);
  await expect(error).toBeVisible();
  await expect(error).toHaveCSS("color", RED);

  // Checked before sending: too short a password.
  await alice.submitCredentials(uniqueName("newbie"), "short");
  await expect(error).toContainText("password");

  await alice.signIn();
  await expect(alice.page.getByTestId("empty-pane")).toBeVisible();
});

test("signing out in one tab sends the other tabs to the sign-in page", async ({ people }) => {
  const alice = await people.create("alice");
  await alice.register();
  const secondTab = await people.secondTab(alice);
  await secondTab.page.goto("/");
  await secondTab.expectInApp();

  await alice.signOut();
  await expect(secondTab.page).toHaveURL(/\/login$/);
  await expect(secondTab.page.getByTestId("auth-submit")).toBeEnabled();
});
