import { describe, expect, it } from "vitest";
import type { Step } from "./api";
import { FLIP_STEPS, STEP_INFO, buildTimeline, describeHistory, mergeKeyed } from "./timeline";

const t0 = "2024-01-01T00:00:00.000Z";
const at = (ms: number) => new Date(Date.parse(t0) + ms).toISOString();
const step = (name: string, ms: number, durationMs = 10): Step => ({ step: name, slot: "a", detail: "", durationMs, at: at(ms) });

describe("buildTimeline", () => {
  it("shows the steps that happened in time order, then the ones still expected", () => {
    const rows = buildTimeline(
      { status: "starting", reason: null, createdAt: t0, kind: "deploy", finishedAt: null },
      [step("container.created", 300), step("image.resolved", 100, 42), step("network.ready", 200)],
    );
    expect(rows.map((r) => r.step)).toEqual(FLIP_STEPS);
    expect(rows.slice(0, 3).map((r) => r.state)).toEqual(["done", "done", "done"]);
    expect(rows.slice(3).every((r) => r.state === "pending")).toBe(true);
    expect(rows[0].durationMs).toBe(42);
    expect(rows[0].sinceStartMs).toBe(100);
    expect(rows[0].why).toContain("digest");
  });

  it("a live first deploy has no old slot: missing steps are not shown as pending", () => {
    const done = ["image.resolved", "network.ready", "container.created", "container.started", "health.passed", "proxy.switched"];
    const rows = buildTimeline(
      { status: "live", reason: null, createdAt: t0, kind: "deploy", finishedAt: at(900) },
      done.map((s, i) => step(s, (i + 1) * 100)),
    );
    expect(rows.map((r) => r.step)).toEqual(done);
    expect(rows.every((r) => r.state === "done")).toBe(true);
  });

  it("a failed release ends with its reason, and redelivered steps appear once", () => {
    const rows = buildTimeline(
      { status: "failed", reason: "never answered HTTP on port 8080 within 5 s", createdAt: t0, kind: "deploy", finishedAt: at(5000) },
      [step("image.resolved", 100), step("image.resolved", 100), step("container.started", 400)],
    );
    expect(rows.filter((r) => r.step === "image.resolved")).toHaveLength(1);
    const last = rows[rows.length - 1];
    expect(last.state).toBe("failed");
    expect(last.detail).toContain("never answered");
    expect(rows.find((r) => r.step === "health.passed")?.state).toBe("skipped");
  });

  it("shows when the command reached the agent, before the rollout's steps", () => {
    const rows = buildTimeline(
      { status: "starting", reason: null, createdAt: t0, kind: "deploy", finishedAt: null },
      [step("image.resolved", 30), step("command.received", 9, 3), step("command.published", 6, 6)],
    );
    expect(rows.slice(0, 3).map((r) => [r.step, r.sinceStartMs])).toEqual([
      ["command.published", 6],
      ["command.received", 9],
      ["image.resolved", 30],
    ]);
    expect(rows[1].title).toBe("Command received");
  });

  it("explains every step the agent emits", () => {
    for (const name of [...FLIP_STEPS, "container.restarted", "command.published", "command.received"]) {
      expect(STEP_INFO[name].why.length).toBeGreaterThan(40);
    }
  });
});

describe("history", () => {
  it("describes container events for people", () => {
    expect(describeHistory({ kind: "container.exited", releaseId: null, detail: { exitCode: 3, slot: "b" }, at: t0 })).toBe(
      "Container exited in slot b with code 3",
    );
    expect(describeHistory({ kind: "container.oom_killed", releaseId: null, detail: {}, at: t0 })).toContain("out of memory");
  });

  it("merges live entries by key in time order without doubles", () => {
    const a = { key: "1", at: at(100) };
    const b = { key: "2", at: at(50) };
    expect(mergeKeyed([a], [b, a]).map((x) => x.key)).toEqual(["2", "1"]);
  });
});
