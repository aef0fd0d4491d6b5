import { describe, expect, it } from "vitest";
import type { EnvItem } from "./api";
import { envRows } from "./env";

const item = (key: string): EnvItem => ({ key, value: "********", masked: true, createdAt: "2030-01-01T00:00:00Z", updatedAt: "2030-01-01T00:00:00Z" });

describe("envRows", () => {
  it("keeps a variable the user added before the stored keys loaded", () => {
    const draft = { key: "GREETING", value: "hi", existing: false, remove: false };
    expect(envRows([item("A")], [draft])).toEqual([{ key: "A", value: "", existing: true, remove: false }, draft]);
  });

  it("drops a new row once a save stored its key, and resets pending edits of stored keys", () => {
    const rows = [
      { key: "A", value: "changed", existing: true, remove: false },
      { key: " GREETING ", value: "hi", existing: false, remove: false },
    ];
    expect(envRows([item("A"), item("GREETING")], rows)).toEqual([
      { key: "A", value: "", existing: true, remove: false },
      { key: "GREETING", value: "", existing: true, remove: false },
    ]);
  });
});
