import type { Delivery } from "./api";

/** A webhook delivery's outcome in words: how many attempts, and what the receiver answered. */
export function deliveryOutcome(d: Delivery): string {
  const tries = `${d.attempts} attempt${d.attempts === 1 ? "" : "s"}`;
  const answer = d.lastError ?? (d.lastStatusCode != null ? `HTTP ${d.lastStatusCode}` : null);
  if (d.status === "delivered") return `after ${tries}${d.lastStatusCode != null ? ` (HTTP ${d.lastStatusCode})` : ""}`;
  if (d.status === "pending") return d.attempts === 0 ? "not sent yet" : `${tries} so far, last: ${answer ?? "no answer"}; retrying`;
  return `gave up after ${tries}, last: ${answer ?? "no answer"}`;
}
