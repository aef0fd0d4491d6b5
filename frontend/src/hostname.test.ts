import { describe, expect, it } from "vitest";
import { hostnameOf } from "./hostname";

describe("hostnameOf", () => {
  it("names the platform's real domain, not a placeholder", () => {
    expect(hostnameOf("shop", "apps.example.com")).toBe("shop.apps.example.com");
    expect(hostnameOf("", "localhost")).toBe("name.localhost");
  });
  it("waits for the domain instead of inventing one", () => {
    expect(hostnameOf("shop", null)).toBe("shop.…");
  });
});
