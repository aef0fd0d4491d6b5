import type { Domain } from "./api";
import { relative } from "./time";

export type Tone = "ok" | "busy" | "bad" | "idle";

/** What the domains tab shows for one attached hostname. */
export interface DomainDisplay {
  /** The DNS record to create: ``CNAME <hostname> → <proxyTarget>``. */
  dns: { type: "CNAME"; name: string; target: string };
  /** Whether the name was verified (points here), and how to read that. */
  verification: { text: string; tone: Tone; checked: string | null };
  /** The certificate: a badge, and the failure reason in full when it failed. */
  tls: { badge: string; tone: Tone; reason: string | null; issuer: string | null };
  /** Something is still to happen (verification or a certificate): worth polling for. */
  settling: boolean;
}

/** Names Caddy's internal CA serves (ADR 0009), for APIs that do not say ``tlsIssuer`` yet. */
const LOCAL = /(^|\.)(localhost|test)$/;

function issuerOf(d: Domain): "internal" | "acme" | null {
  if (d.tlsIssuer === "internal" || d.tlsIssuer === "acme") return d.tlsIssuer;
  if (d.tlsIssuer == null && LOCAL.test(d.hostname)) return "internal";
  return null;
}

const ISSUER_TEXT = { internal: "Caddy's internal CA", acme: "ACME (a public CA)" } as const;

/** The domain as the tab shows it: where DNS must point, whether it is verified, its TLS state. */
export function describeDomain(d: Domain, now: number = Date.now()): DomainDisplay {
  const issuer = issuerOf(d);
  const checked = d.checkedAt ? `last checked ${relative(d.checkedAt, now)}` : null;
  let verification: DomainDisplay["verification"];
  if (issuer === "internal") {
    verification = { text: "not needed: local name, internal CA", tone: "idle", checked: null };
  } else if (d.verifiedAt) {
    verification = { text: `verified ${relative(d.verifiedAt, now)}`, tone: "ok", checked };
  } else {
    verification = { text: "waiting for DNS", tone: "busy", checked };
  }

  const status = (d.tlsStatus ?? "").trim();
  const issuerText = issuer ? ISSUER_TEXT[issuer] : null;
  let tls: DomainDisplay["tls"];
  if (status === "issued") {
    tls = { badge: "issued", tone: "ok", reason: null, issuer: issuerText };
  } else if (status === "pending" || status === "") {
    tls = { badge: "pending", tone: "busy", reason: null, issuer: issuerText };
  } else if (status === "failed" || status.startsWith("failed:")) {
    const reason = status.slice("failed".length).replace(/^:\s*/, "");
    tls = { badge: "failed", tone: "bad", reason: reason || "no reason given", issuer: issuerText };
  } else {
    tls = { badge: status, tone: "idle", reason: null, issuer: issuerText };
  }
  const settling = tls.badge === "pending" || (issuer !== "internal" && !d.verifiedAt);
  return { dns: { type: "CNAME", name: d.hostname, target: d.proxyTarget }, verification, tls, settling };
}
