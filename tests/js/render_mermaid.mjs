// Parses and renders mermaid diagrams in headless Chromium (Debian's, never a downloaded browser).
// Usage: node tests/js/render_mermaid.mjs DIAGRAMS.json USER_DATA_DIR
// DIAGRAMS.json is a JSON list of diagram sources; prints a JSON list of
// {ok, kind, error, width, height, texts} in the same order (texts: the rendered SVG's text content).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const [diagramsFile, userDataDir] = process.argv.slice(2);
const diagrams = JSON.parse(readFileSync(diagramsFile, "utf8"));
const mermaidJs = require.resolve("mermaid/dist/mermaid.min.js");

const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
  ],
});
try {
  const page = context.pages()[0] || (await context.newPage());
  await page.route("**/*", (route) => route.abort()); // nothing leaves the page: mermaid comes from node_modules
  await page.setContent("<!doctype html><html><body><div id='out'></div></body></html>");
  await page.addScriptTag({ path: mermaidJs });
  const results = await page.evaluate(async (sources) => {
    window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
    const out = [];
    for (const [i, source] of sources.entries()) {
      try {
        const parsed = await window.mermaid.parse(source);
        const { svg } = await window.mermaid.render(`d${i}`, source);
        const holder = document.getElementById("out");
        holder.innerHTML = svg;
        const element = holder.querySelector("svg");
        const box = element.getBBox();
        const texts = [...element.querySelectorAll("text, foreignObject, span, p")].map((e) => e.textContent);
        const failed = svg.includes("Syntax error in text") || element.getAttribute("aria-roledescription") === "error";
        out.push({ ok: !failed && box.width > 0 && box.height > 0, kind: parsed.diagramType, error: failed ? "error diagram" : null,
                   width: box.width, height: box.height, texts });
      } catch (error) {
        out.push({ ok: false, kind: null, error: String(error && error.message ? error.message : error), width: 0, height: 0, texts: [] });
      }
    }
    return out;
  }, diagrams);
  process.stdout.write(JSON.stringify(results));
} finally {
  await context.close();
}
