// Writes <file>.br beside each vendored file named on the command line (brotli, quality 11), which
// web/assets.py sends to browsers that accept brotli: Python's standard library has no brotli.
// Run by `make vendor-br` whenever a vendored file changes; tests/web/test_assets.py checks they match.
'use strict';
const fs = require('fs');
const zlib = require('zlib');
for (const file of process.argv.slice(2)) {
  const body = fs.readFileSync(file);
  const packed = zlib.brotliCompressSync(body, {params: {
    [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: body.length}});
  fs.writeFileSync(file + '.br', packed);
  console.log(`${file}: ${body.length} -> ${packed.length} bytes`);
}
