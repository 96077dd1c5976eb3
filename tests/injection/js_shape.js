// Prints, for each JavaScript file named on the command line, its syntax tree as JSON with every literal
// value, template text, identifier spelling aside, and position removed: what text may change without changing code.
// A file that does not parse prints {"error": message}. Used by tests/test_injection.py.
"use strict";
const fs = require("fs");
const path = require("path");
const acorn = require(path.join(__dirname, "..", "..", "node_modules", "acorn"));

function shape(node) {
  if (Array.isArray(node)) return node.map(shape);
  if (node === null || typeof node !== "object") return node;
  const out = {};
  for (const [key, value] of Object.entries(node)) {
    if (["start", "end", "loc", "range", "raw"].includes(key)) continue;
    if (node.type === "Literal" && (key === "value" || key === "regex")) {
      out[key] = typeof value === "string" ? "S" : shape(value);
      continue;
    }
    if (node.type === "TemplateElement" && key === "value") continue;
    out[key] = shape(value);
  }
  return out;
}

const result = {};
for (const file of process.argv.slice(2)) {
  try {
    const text = fs.readFileSync(file, "utf8");
    result[file] = shape(acorn.parse(text, { ecmaVersion: "latest", sourceType: "module" }));
  } catch (error) {
    result[file] = { error: String(error.message) };
  }
}
process.stdout.write(JSON.stringify(result));
