import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// The API gateway serves dist/ at / (services/api/berth_api/static.py); `npm run dev`
// proxies /api to a running `berth up` on 127.0.0.1:8000.
export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", assetsDir: "assets", sourcemap: false, chunkSizeWarningLimit: 400 },
  server: { proxy: { "/api": "http://127.0.0.1:8000" } },
  test: { include: ["src/**/*.test.ts"], environment: "node" },
});
