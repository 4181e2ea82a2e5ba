// Preloaded into jsii's Node kernel (NODE_OPTIONS=--require, set by modules/bindings/lazy_import.py).
//
// Why: the provider package's lib/index.js is ~2,100 lines of `exports.x = require("./x");`, so
// loading the assembly compiles ~200 MB of JavaScript (kernel RSS 620 MB; 210 MB with this file)
// although a synth reaches only a few dozen modules. The kernel finds a class by walking property
// names from the package's exports (`vpc.Vpc`), so getters that require a module on first access
// give it the same objects. Only that one generated file is touched, and only when every line has
// the known shape; anything else loads as usual. tests/test_bindings.py proves the JSON is byte-identical.
"use strict";
const fs = require("fs");
const Module = require("module");
const path = require("path");

const INDEX_SUFFIX = path.join("lib", "index.js");
// npm names (e.g. @cdktf/provider-aws) -> "/@cdktf/provider-aws/", a directory in jsii's package cache
const PACKAGE_DIRS = (process.env.ARAQUEM_LAZY_JS_PACKAGES || "")
  .split(",")
  .filter(Boolean)
  .map((name) => path.sep + name.split("/").join(path.sep) + path.sep);
const EXPORT = /^exports\.([A-Za-z_$][\w$]*) = require\("(\.\/[\w.-]+)"\);$/;
const KNOWN = [
  /^"use strict";$/, /^\/\*\*$/, /^ \*( .*)?$/, /^ \*\/$/, /^\/\/ /, /^\/\/# sourceMappingURL=/, /^$/,
  /^Object\.defineProperty\(exports, "__esModule", \{ value: true \}\);$/,
  /^(exports\.[A-Za-z_$][\w$]* = )+void 0;$/,
];

function lazyExports(source) {
  const entries = [];
  for (const line of source.split("\n")) {
    const match = EXPORT.exec(line);
    if (match) entries.push([match[1], match[2]]);
    else if (!KNOWN.some((re) => re.test(line))) return null; // unknown shape: leave it alone
  }
  return entries.length ? entries : null;
}

const compileJs = Module._extensions[".js"];
Module._extensions[".js"] = function loadJs(module, filename) {
  const ours = filename.endsWith(INDEX_SUFFIX) && PACKAGE_DIRS.some((dir) => filename.includes(dir));
  const entries = ours ? lazyExports(fs.readFileSync(filename, "utf8")) : null;
  if (!entries) return compileJs(module, filename);
  Object.defineProperty(module.exports, "__esModule", { value: true });
  for (const [name, request] of entries) {
    Object.defineProperty(module.exports, name, {
      enumerable: true,
      configurable: true,
      get() {
        const value = module.require(request);
        Object.defineProperty(module.exports, name, { value, enumerable: true, writable: true });
        return value;
      },
    });
  }
};
