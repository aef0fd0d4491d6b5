import { describe, expect, it } from "vitest";
import type { Domain } from "./api";
import { describeDomain } from "./domains";

const now = Date.parse("2026-01-01T12:00:00Z");
const domain = (extra: Partial<Domain> = {}): Domain => ({
  id: "d1",
  hostname: "www.example.com",
  verifiedAt: null,
  tlsStatus: "pending",
  proxyTarget: "shop.apps.example.com",
  ...extra,
});

describe("describeDomain", () => {
  it("says where to point DNS: a CNAME to the proxy target", () => {
    expect(describeDomain(domain(), now).dns).toEqual({ type: "CNAME", name: "www.example.com", target: "shop.apps.example.com" });
  });

  it("a public name waits for DNS, with the last check, and keeps the list polling", () => {
    const view = describeDomain(domain({ tlsIssuer: "acme", checkedAt: "2026-01-01T11:59:30Z" }), now);
    expect(view.verification).toEqual({ text: "waiting for DNS", tone: "busy", checked: "last checked 30 s ago" });
    expect(view.tls).toEqual({ badge: "pending", tone: "busy", reason: null, issuer: "ACME (a public CA)" });
    expect(view.settling).toBe(true);
  });

  it("a verified name with its certificate is settled", () => {
    const view = describeDomain(domain({ tlsIssuer: "acme", verifiedAt: "2026-01-01T11:57:00Z", tlsStatus: "issued" }), now);
    expect(view.verification.text).toBe("verified 3 min ago");
    expect(view.verification.tone).toBe("ok");
    expect(view.tls.badge).toBe("issued");
    expect(view.tls.tone).toBe("ok");
    expect(view.settling).toBe(false);
  });

  it("a local name needs no verification (internal CA), and polls only until its certificate is issued", () => {
    const pending = describeDomain(domain({ hostname: "shop.test", tlsIssuer: "internal" }), now);
    expect(pending.verification).toEqual({ text: "not needed: local name, internal CA", tone: "idle", checked: null });
    expect(pending.tls.issuer).toBe("Caddy's internal CA");
    expect(pending.settling).toBe(true);
    expect(describeDomain(domain({ hostname: "shop.test", tlsIssuer: "internal", tlsStatus: "issued" }), now).settling).toBe(false);
  });

  it("without tlsIssuer (older APIs) *.test and *.localhost names are local, others are not", () => {
    expect(describeDomain(domain({ hostname: "www.dash-example.test" }), now).verification.text).toBe("not needed: local name, internal CA");
    expect(describeDomain(domain({ hostname: "app.localhost" }), now).verification.text).toBe("not needed: local name, internal CA");
    expect(describeDomain(domain({ hostname: "www.contest" }), now).verification.text).toBe("waiting for DNS");
    expect(describeDomain(domain({ hostname: "www.example.test.com" }), now).tls.issuer).toBeNull();
  });

  it("BERTH_TLS=internal: a public name with tlsIssuer internal needs no verification either", () => {
    expect(describeDomain(domain({ tlsIssuer: "internal" }), now).verification.text).toBe("not needed: local name, internal CA");
  });

  it("a failed certificate shows its reason in full", () => {
    const reason = "obtaining certificate: [www.example.com] solving challenges: www.example.com: no solvers available for remaining challenges (configured=[http-01 tls-alpn-01] offered=[dns-01])";
    const view = describeDomain(domain({ tlsIssuer: "acme", verifiedAt: "2026-01-01T11:00:00Z", tlsStatus: `failed: ${reason}` }), now);
    expect(view.tls).toEqual({ badge: "failed", tone: "bad", reason, issuer: "ACME (a public CA)" });
    expect(view.settling).toBe(false);
    expect(describeDomain(domain({ tlsStatus: "failed" }), now).tls.reason).toBe("no reason given");
  });

  it("an unknown TLS state is shown as it is", () => {
    expect(describeDomain(domain({ tlsStatus: "renewing" }), now).tls).toEqual({ badge: "renewing", tone: "idle", reason: null, issuer: null });
  });
});
