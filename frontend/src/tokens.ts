import type { Token } from "./api";

// Named API tokens (README: scopes): what the create form sends, and how a token is described.

export const SCOPES = ["read", "deploy", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

export const SCOPE_HELP: Record<Scope, string> = {
  read: "every read, never secret values",
  deploy: "read, plus deploy, restart, roll back, build and change how apps run",
  admin: "everything: env values, domains, webhooks, tokens, creating and deleting apps",
};

/** Expiry choices offered by the form, in days; 0: never. */
export const EXPIRY_DAYS = [0, 1, 7, 30, 90, 365] as const;

export interface TokenForm {
  name: string;
  scope: Scope;
  /** Apps a deploy token is limited to, comma or space separated; empty: every app. */
  apps: string;
  expiresInDays: number;
}

export interface TokenRequest {
  name: string;
  scope: Scope;
  apps?: string[];
  expiresAt?: string;
}

/** The body of POST /api/tokens for a filled-in form (apps only for deploy tokens). */
export function tokenRequest(form: TokenForm, now: Date): TokenRequest {
  const body: TokenRequest = { name: form.name.trim(), scope: form.scope };
  const apps = form.apps
    .split(/[\s,]+/)
    .map((a) => a.trim())
    .filter(Boolean);
  if (form.scope === "deploy" && apps.length > 0) body.apps = [...new Set(apps)];
  if (form.expiresInDays > 0) body.expiresAt = new Date(now.getTime() + form.expiresInDays * 86_400_000).toISOString();
  return body;
}

/** Which apps a token may act on, in words. */
export function tokenReach(t: Pick<Token, "scope" | "apps">): string {
  if (t.scope === "deploy" && t.apps) return `deploys ${t.apps.join(", ")}`;
  if (t.scope === "deploy") return "deploys every app";
  return t.scope === "admin" ? "everything" : "reads everything";
}

/** "never", "expired", or "in 3 days" style text for a token's expiry. */
export function expiryText(t: Pick<Token, "expiresAt" | "expired">, now: Date): string {
  if (!t.expiresAt) return "never";
  if (t.expired) return "expired";
  const ms = new Date(t.expiresAt).getTime() - now.getTime();
  if (ms <= 0) return "expired";
  const days = Math.floor(ms / 86_400_000);
  if (days >= 1) return `in ${days} day${days === 1 ? "" : "s"}`;
  const hours = Math.floor(ms / 3_600_000);
  if (hours >= 1) return `in ${hours} hour${hours === 1 ? "" : "s"}`;
  return "in less than an hour";
}
