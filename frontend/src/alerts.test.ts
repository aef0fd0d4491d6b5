import { describe, expect, it } from "vitest";
import type { Delivery } from "./api";
import { deliveryOutcome } from "./alerts";

const delivery = (extra: Partial<Delivery>): Delivery => ({
  id: 1,
  event: "health.unhealthy",
  appId: "a1",
  status: "pending",
  attempts: 0,
  lastStatusCode: null,
  lastError: null,
  createdAt: "2026-01-01T12:00:00Z",
  nextAttemptAt: null,
  deliveredAt: null,
  ...extra,
});

describe("deliveryOutcome", () => {
  it("says how a delivery went and what the receiver answered", () => {
    expect(deliveryOutcome(delivery({}))).toBe("not sent yet");
    expect(deliveryOutcome(delivery({ attempts: 1, lastStatusCode: 500, lastError: "HTTP 500" }))).toBe("1 attempt so far, last: HTTP 500; retrying");
    expect(deliveryOutcome(delivery({ status: "delivered", attempts: 2, lastStatusCode: 200 }))).toBe("after 2 attempts (HTTP 200)");
    expect(deliveryOutcome(delivery({ status: "failed", attempts: 6, lastError: "ConnectError: connection refused" }))).toBe(
      "gave up after 6 attempts, last: ConnectError: connection refused",
    );
  });
});
