import type { HeldInstance } from "./processes";

// The dashboard talks only to the public HTTP API (README), on this origin, signed in by the
// HttpOnly session cookie. Every request carries X-Berth-CSRF: 1, which the API requires of
// cookie-authenticated mutations and which a cross-site form cannot send.

export interface Resources {
  memoryMb: number;
  cpus: number;
}

export interface HealthCheckConfig {
  path: string;
  intervalSeconds: number;
  timeoutSeconds: number;
  expectedStatus: number | string | null;
  healthyThreshold: number;
  unhealthyThreshold: number;
  startPeriodSeconds?: number;
  restartAfterSeconds?: number;
  maxRestarts?: number;
}

export interface App {
  id: string;
  name: string;
  status: string;
  statusReason: string | null;
  generatedHostname: string;
  url: string;
  port: number;
  resources: Resources;
  deployTimeoutSeconds: number;
  stopTimeoutSeconds: number;
  createdAt: string;
  lastDeployedAt: string | null;
  currentReleaseId: string | null;
  image: string | null;
  imageDigest: string | null;
  healthCheck: HealthCheckConfig | null;
}

export interface Release {
  id: string;
  appId: string;
  version: number;
  kind: string;
  image: string;
  imageDigest: string | null;
  status: string;
  reason: string | null;
  slot: string | null;
  createdAt: string;
  startedAt: string | null;
  liveAt: string | null;
  finishedAt: string | null;
  rollbackOf: string | null;
  envChanges: { set: string[]; unset: string[] } | null;
  /** Whether the image is still on the host to roll back to (null: unknown or never live). */
  imageAvailable?: boolean | null;
}

export interface Step {
  key?: string;
  releaseId?: string;
  version?: number;
  step: string;
  slot: string;
  detail: string;
  durationMs: number;
  at: string;
}

export interface HistoryEntry {
  key?: string;
  kind: string;
  releaseId: string | null;
  detail: Record<string, unknown> | null;
  at: string;
}

export interface EnvItem {
  key: string;
  value: string;
  masked: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface LogLine {
  id: number;
  timestamp: string;
  stream: string;
  releaseId: string;
  message: string;
  /** The process type that wrote it (ADR 0026); absent from older logs services. */
  process?: string;
  /** The one-off or cron run that wrote it, if any. */
  runId?: string | null;
}

/** One process type of the app's release (GET /api/apps/{id}/processes), with the count in force. */
export interface ProcessInfo {
  name: string;
  /** An argv; empty or null: the image's CMD (web only). */
  command: string[] | null;
  count: number;
  /** Scaled since the release (the count is the app's, not the release's). */
  scaled: boolean;
  routed: boolean;
  resources: Resources;
  /** Why Berth stopped restarting it, if it did. */
  crashed: string | null;
  /** With ?instances=true: its containers as the agent holds them; null: the agent did not answer. */
  instances?: HeldInstance[] | null;
}

export interface CronJob {
  name: string;
  schedule: string;
  timezone: string;
  command: string[];
  timeoutSeconds: number;
  concurrency: "forbid" | "allow" | "replace";
  catchUp: boolean;
  nextRunAt: string | null;
  lastDueAt: string | null;
  releaseId: string;
  lastRun: { id: string; status: string; exitCode: number | null; createdAt: string | null; startedAt: string | null; dueAt: string | null } | null;
}

/** A one-off or cron run, or a cron job's skipped/missed entry (status ``skipped``/``missed``). */
export interface Run {
  id: string;
  appId: string;
  releaseId: string | null;
  kind: "run" | "cron";
  job: string | null;
  /** schedule | manual | catch_up (cron), null for one-off runs. */
  trigger: string | null;
  /** pending | running | exited | timed_out | stopped | failed_to_start | lost | skipped | missed */
  status: string;
  command: string[];
  exitCode: number | null;
  reason: string | null;
  lastLines: string[];
  dueAt: string | null;
  firstDueAt: string | null;
  missedCount: number | null;
  lateMs: number | null;
  createdAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  actor: string | null;
}

export interface CheckResult {
  id: number;
  timestamp: string;
  ok: boolean;
  statusCode: number | null;
  error: string | null;
  latencyMs: number | null;
  releaseId: string | null;
}

export interface HealthReport {
  appId: string;
  config: HealthCheckConfig | null;
  livenessOnly: boolean;
  state: string;
  since: string | null;
  reason: string | null;
  automaticRestarts: number;
  lastCheck: CheckResult | null;
  uptime: Record<string, number | null>;
  history: { items: CheckResult[]; nextCursor: number | null };
}

export interface Domain {
  id: string;
  appId?: string;
  hostname: string;
  createdAt?: string;
  /** When the name was last verified to point here; null until it is. */
  verifiedAt: string | null;
  /** "pending", "issued" or "failed: <reason>". */
  tlsStatus: string;
  /** What the hostname's DNS must point at (a CNAME target). */
  proxyTarget: string;
  /** "internal" (Caddy's internal CA, local names) or "acme" (public names); newer APIs only. */
  tlsIssuer?: string | null;
  /** The last verification attempt; newer APIs only. */
  checkedAt?: string | null;
}

export interface Delivery {
  id: number;
  event: string;
  appId: string;
  status: string; // pending | delivered | failed
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: string;
  nextAttemptAt: string | null;
  deliveredAt: string | null;
}

export interface Webhook {
  id: string;
  url: string;
  events: string[];
  createdAt: string;
  secret?: string;
  recentDeliveries: Delivery[];
}

/** A named API token as listed (never its value); ``token`` only in the reply that made it. */
export interface Token {
  id: string;
  name: string;
  scope: "read" | "deploy" | "admin";
  /** Apps a deploy token is limited to; null: every app. */
  apps: string[] | null;
  /** The admin token `berth up` made: rotated, never revoked. */
  root: boolean;
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
  expired: boolean;
  token?: string;
  sessionsRevoked?: number;
}

export interface FieldProblem {
  field: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: FieldProblem[] = [],
  ) {
    super(message);
  }

  /** The message for one field (its dotted path), if the API named it. */
  field(name: string): string | undefined {
    return this.details.find((d) => d.field === name)?.message;
  }
}

let onUnauthorized: () => void = () => {};

export function setUnauthorizedHandler(handler: () => void): void {
  onUnauthorized = handler;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { "X-Berth-CSRF": "1", Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network", "cannot reach the Berth API");
  }
  const text = await response.text();
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const err = (data as { error?: { code?: string; message?: string; details?: FieldProblem[] } } | null)?.error;
    const error = new ApiError(
      response.status,
      err?.code ?? "http_" + response.status,
      err?.message ?? `${method} ${path} answered ${response.status}`,
      err?.details ?? [],
    );
    if (response.status === 401 && path !== "/api/session") onUnauthorized();
    throw error;
  }
  return data as T;
}

export const get = <T>(path: string) => api<T>("GET", path);
export const post = <T>(path: string, body?: unknown) => api<T>("POST", path, body ?? {});
export const put = <T>(path: string, body: unknown) => api<T>("PUT", path, body);
export const patch = <T>(path: string, body: unknown) => api<T>("PATCH", path, body);
export const del = <T>(path: string) => api<T>("DELETE", path);

export const appPath = (app: string, rest = "") => `/api/apps/${encodeURIComponent(app)}${rest}`;
