import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// The built console lands inside the Python package, which serves it at / (deepfort/api/web.py).
export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "../deepfort/web/static",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
  },
  server: {
    // `npm run dev` talks to a `deepfort serve` on the default port.
    proxy: Object.fromEntries(
      ["/v1", "/admin", "/stats", "/metrics", "/health", "/ready"].map((p) => [p, "http://127.0.0.1:8080"]),
    ),
  },
  test: {
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
    environment: "node",
  },
});
