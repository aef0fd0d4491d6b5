import { describe, expect, it } from "vitest";
import type { HistoryEntry } from "./api";
import { commandLine, heldInstances, instancesOf, type HeldInstance } from "./processes";

let n = 0;
const at = () => new Date(Date.UTC(2026, 11, 5, 12, 0, n++)).toISOString();
const ev = (kind: string, detail: Record<string, unknown>, releaseId = "r2"): HistoryEntry => ({ kind, releaseId, detail: { slot: "a", containerId: "c" + n, ...detail }, at: at() });

describe("instancesOf", () => {
  it("lists each instance of the live release with its state, restarts and last exit", () => {
    const history = [
      ev("container.started", { process: "worker", index: 0 }, "r1"), // an older release's
      ev("container.started", { process: "worker", index: 0 }),
      ev("container.started", { process: "web", index: 0 }),
      ev("container.exited", { process: "worker", index: 0, exitCode: 1, expected: false }),
      ev("container.started", { process: "worker", index: 0 }),
      ev("container.started", { process: "worker", index: 1 }),
      ev("container.oom_killed", { process: "worker", index: 1 }),
      ev("container.exited", { process: "worker", index: 1, exitCode: 137, expected: false }),
      ev("container.started", { process: "cron", index: 0, runId: "run1" }),
    ];
    const workers = instancesOf(history, "r2", "worker", 2);
    expect(workers.map((i) => [i.index, i.state, i.restarts, i.lastExitCode])).toEqual([
      [0, "running", 1, 1],
      [1, "oom_killed", 0, 137],
    ]);
    expect(workers[1].lastOomAt).not.toBeNull();
    expect(instancesOf(history, "r2", "web", 1).map((i) => [i.index, i.state, i.slot])).toEqual([[0, "running", "a"]]);
  });

  it("shows instances not started yet as waiting, and hides stopped ones beyond the count", () => {
    const history = [
      ev("container.started", { process: "worker", index: 0 }),
      ev("container.started", { process: "worker", index: 1 }),
      ev("container.exited", { process: "worker", index: 1, exitCode: 0, expected: true }),
    ];
    expect(instancesOf(history, "r2", "worker", 1).map((i) => i.index)).toEqual([0]);
    expect(instancesOf(history, "r2", "worker", 3).map((i) => [i.index, i.state])).toEqual([
      [0, "running"],
      [1, "stopped"],
      [2, "waiting"],
    ]);
    expect(instancesOf(history, null, "worker", 1).map((i) => i.state)).toEqual(["waiting"]);
  });

  it("counts entries without a process as web (containers from before processes)", () => {
    const history = [{ kind: "container.started", releaseId: "r2", detail: { slot: "b" }, at: at() }];
    expect(instancesOf(history, "r2", "web", 1)[0].state).toBe("running");
    expect(instancesOf(history, "r2", "worker", 0)).toEqual([]);
  });
});

describe("heldInstances", () => {
  const held = (extra: Partial<HeldInstance>): HeldInstance => ({ index: 0, running: true, address: "10.0.0.20", slot: "b", containerId: "w0", releaseId: "r2", live: true, ...extra });

  it("takes the agent's word on what runs and where, and the history's on restarts and exits", () => {
    const history = [
      ev("container.started", { process: "worker", index: 0, containerId: "w0" }),
      ev("container.exited", { process: "worker", index: 0, containerId: "w0", exitCode: 2, expected: false }),
      ev("container.started", { process: "worker", index: 0, containerId: "w0" }),
      ev("container.oom_killed", { process: "worker", index: 1, containerId: "w1" }),
      ev("container.exited", { process: "worker", index: 1, containerId: "w1", exitCode: 137, expected: false }),
    ];
    const out = heldInstances([held({}), held({ index: 1, containerId: "w1", running: false, address: "10.0.0.21" }), held({ containerId: "old", releaseId: "r1", live: false, slot: "a" })], history, 3);
    expect(out.map((i) => [i.index, i.live, i.state, i.address, i.restarts, i.lastExitCode])).toEqual([
      [0, true, "running", "10.0.0.20", 1, 2],
      [0, false, "running", "10.0.0.20", 0, null],
      [1, true, "oom_killed", "10.0.0.21", 0, 137],
      [2, true, "waiting", null, 0, null],
    ]);
    expect(out[1].slot).toBe("a");
  });

  it("reads a stopped container without history as exited", () => {
    expect(heldInstances([held({ running: false })], [], 1).map((i) => i.state)).toEqual(["exited"]);
  });
});

describe("commandLine", () => {
  it("quotes only the words that need it", () => {
    expect(commandLine(["sh", "-c", "echo hi; exit 2"])).toBe("sh -c 'echo hi; exit 2'");
    expect(commandLine(["python", "worker.py"])).toBe("python worker.py");
    expect(commandLine(null)).toBe("");
  });
});
