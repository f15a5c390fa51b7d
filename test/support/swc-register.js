/**
 * A tiny require hook: lets `node -r ./test/support/swc-register.js some/entry.ts` run the TypeScript sources
 * directly (CommonJS, via @swc/core's transformSync), so tests can start a service as a real child process
 * without depending on a fresh `npm run build`. Test-only; production runs the tsc output in dist/.
 */
const { readFileSync } = require('node:fs');
const Module = require('node:module');
const { transformSync } = require('@swc/core');

function compile(module, filename) {
  const { code } = transformSync(readFileSync(filename, 'utf8'), {
    filename,
    sourceMaps: 'inline',
    jsc: { target: 'es2022', parser: { syntax: 'typescript' } },
    module: { type: 'commonjs' },
  });
  module._compile(code, filename);
}

Module._extensions['.ts'] = compile;

// Sources import each other extensionless or with `.js` (NodeNext style, e.g. the generated Prisma client):
// resolve a relative `x.js` that does not exist to `x.ts`, as jest's moduleNameMapper does.
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  try {
    return resolveFilename.call(this, request, ...rest);
  } catch (err) {
    if (err && err.code === 'MODULE_NOT_FOUND' && request.startsWith('.') && request.endsWith('.js'))
      return resolveFilename.call(this, `${request.slice(0, -3)}.ts`, ...rest);
    throw err;
  }
};
