// Turns the breakwater component into an ES module Node can import: `node transpile.mjs`.
//
// jco's transpiler (@bytecodealliance/jco-transpile, what `jco transpile` runs) splits the
// component into core wasm modules plus generated JS glue in ./generated, whose WASI imports
// come from @bytecodealliance/preview2-shim. The component is $BREAKWATER_COMPONENT (the
// `breakwater_core.wasm` built for wasm32-wasip2, see wit/README.md). The output is
// regenerated only when the component's bytes change (their SHA-256 is kept beside it).

import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

import { transpile, writeFiles } from '@bytecodealliance/jco-transpile';

const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, 'generated');
const stamp = join(outDir, 'component.sha256');

const component = process.env.BREAKWATER_COMPONENT;
if (!component) {
  console.error('transpile: set BREAKWATER_COMPONENT to the breakwater component (.wasm)');
  process.exit(2);
}
let bytes;
try {
  bytes = await readFile(component);
} catch (e) {
  console.error(`transpile: cannot read the component ${component}: ${e.message}`);
  process.exit(2);
}
const digest = createHash('sha256').update(bytes).digest('hex');
const previous = await readFile(stamp, 'utf8').catch(() => '');
if (previous.trim() !== digest) {
  await rm(outDir, { recursive: true, force: true });
  // As `jco transpile` does: a WIT error is thrown as a ComponentError with `.payload`.
  const options = { name: 'breakwater', outDir, noComponentErrorWrapping: false };
  const { files } = await transpile(component, options);
  await writeFiles(files);
  await mkdir(outDir, { recursive: true });
  await writeFile(stamp, `${digest}\n`);
  console.log(`transpile: ${component} -> ${outDir}`);
}
