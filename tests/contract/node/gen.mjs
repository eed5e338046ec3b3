// TypeScript types of each OpenAPI document, as an integrator's build makes them:
//   node gen.mjs <node_modules> <out dir> <spec.json>...   ->   <out dir>/<spec>.ts
// openapi-typescript is imported from the node_modules given (the tests install it outside the repo).
import { readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const [modules, out, ...specs] = process.argv.slice(2);
const found = createRequire(join(modules, "..", "package.json")).resolve("openapi-typescript");
const library = await import(pathToFileURL(found).href); // its CommonJS build: exports under .default
const openapiTS = library.default.default ?? library.default;
const astToString = library.astToString ?? library.default.astToString;
for (const spec of specs) {
  // A field with a default is one a caller may leave out (the same schema serves both directions).
  const ast = await openapiTS(JSON.parse(readFileSync(spec, "utf8")), { defaultNonNullable: false });
  writeFileSync(join(out, basename(spec, ".json") + ".ts"), astToString(ast));
}
