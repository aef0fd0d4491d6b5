import { describe, expect, it } from "vitest";
import { expiryText, tokenReach, tokenRequest } from "./tokens";

const NOW = new Date("2030-01-01T00:00:00Z");

describe("tokenRequest", () => {
  it("sends apps only for a deploy token, trimmed and without duplicates", () => {
    expect(tokenRequest({ name: " ci ", scope: "deploy", apps: "shop, blog shop", expiresInDays: 0 }, NOW)).toEqual({
      name: "ci",
      scope: "deploy",
      apps: ["shop", "blog"],
    });
    expect(tokenRequest({ name: "r", scope: "read", apps: "shop", expiresInDays: 0 }, NOW)).toEqual({ name: "r", scope: "read" });
    expect(tokenRequest({ name: "d", scope: "deploy", apps: "  ", expiresInDays: 0 }, NOW)).toEqual({ name: "d", scope: "deploy" });
  });

  it("turns an expiry in days into a time", () => {
    expect(tokenRequest({ name: "t", scope: "read", apps: "", expiresInDays: 30 }, NOW).expiresAt).toBe("2030-01-31T00:00:00.000Z");
  });
});

describe("tokenReach", () => {
  it("says what a token may act on", () => {
    expect(tokenReach({ scope: "deploy", apps: ["shop", "blog"] })).toBe("deploys shop, blog");
    expect(tokenReach({ scope: "deploy", apps: null })).toBe("deploys every app");
    expect(tokenReach({ scope: "read", apps: null })).toBe("reads everything");
    expect(tokenReach({ scope: "admin", apps: null })).toBe("everything");
  });
});

describe("expiryText", () => {
  it("counts down to the expiry and says when it has passed", () => {
    expect(expiryText({ expiresAt: null, expired: false }, NOW)).toBe("never");
    expect(expiryText({ expiresAt: "2030-01-04T01:00:00Z", expired: false }, NOW)).toBe("in 3 days");
    expect(expiryText({ expiresAt: "2030-01-02T00:00:00Z", expired: false }, NOW)).toBe("in 1 day");
    expect(expiryText({ expiresAt: "2030-01-01T05:30:00Z", expired: false }, NOW)).toBe("in 5 hours");
    expect(expiryText({ expiresAt: "2030-01-01T00:10:00Z", expired: false }, NOW)).toBe("in less than an hour");
    expect(expiryText({ expiresAt: "2029-12-31T00:00:00Z", expired: false }, NOW)).toBe("expired");
    expect(expiryText({ expiresAt: "2030-06-01T00:00:00Z", expired: true }, NOW)).toBe("expired");
  });
});
