// Builds the console into dist/, which the edge serves at `/`
// (BOOST_EDGE_CONSOLE_DIR). One copy of protobuf-es and Connect, whether
// imported here or through the SDK.
import { defineConfig } from "vite";

export default defineConfig({
  resolve: { dedupe: ["@bufbuild/protobuf", "@connectrpc/connect", "@connectrpc/connect-web"] },
  build: { outDir: "dist", emptyOutDir: true, target: "es2022", sourcemap: false },
});
