#!/usr/bin/env node
// `npm run build` step 2: bundles the compiled daemon (dist/src/cli.js and every module it loads, its dependencies
// included) into one file, dist/tsflanneld.bundle.js, which the installed command (dist/src/tsflanneld.js) loads.
// One file instead of ~450: no module resolution, one read and one compile (through the code cache). Left out:
// boot.js/compile-cache.js, which run before the bundle. Files found at run time stay where npm put them: netlink's
// binding (netlink's JS is inside; its __dirname is pointed back at the installed package) and thread-stream's
// worker file for pino's pretty-printing transport (a TTY only; the banner sets pino's documented bundler hook).
// Without esbuild (a production install without devDependencies) this says so and the command runs the files.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
const OUT = path.join(DIST, 'tsflanneld.bundle.js');
const EXTERNAL_PACKAGES = ['pino-pretty'];
/** Bundled packages that find files beside their own at run time: __dirname becomes the installed package's. */
const LOCATED_PACKAGES = ['netlink'];
/** Our modules the command loads before the bundle: the bundle must share them, not carry a second copy. */
const SHARED = new Set(['boot.js', 'compile-cache.js']);

/**
 * Our modules that use __dirname/__filename (the addon's path, the datapath worker's file) keep the values they have
 * in dist/src/, relative to wherever the bundle is: the text is rewritten to a lookup from the bundle's directory.
 * A LOCATED_PACKAGES file's __dirname becomes its directory in the package as Node resolves it at run time.
 */
const relocate = {
  name: 'relocate-dirname',
  setup(build) {
    const src = path.join(DIST, 'src');
    build.onResolve({ filter: /^\.\.?\// }, (args) => {
      const target = path.resolve(args.resolveDir, args.path);
      if (path.dirname(target) === src && SHARED.has(path.basename(target))) {
        return { path: `./${path.relative(DIST, target).split(path.sep).join('/')}`, external: true };
      }
      return undefined;
    });
    build.onLoad({ filter: new RegExp(`[\\\\/]node_modules[\\\\/](${LOCATED_PACKAGES.join('|')})[\\\\/].*\\.js$`) }, (args) => {
      const text = fs.readFileSync(args.path, 'utf8');
      if (!/\b__dirname\b/.test(text)) return undefined;
      const parts = args.path.split(path.sep);
      const at = parts.lastIndexOf('node_modules');
      const pkg = parts[at + 1];
      const inside = JSON.stringify(parts.slice(at + 2, -1).join('/'));
      const where = `require("node:path").join(require("node:path").dirname(require.resolve(${JSON.stringify(`${pkg}/package.json`)})),${inside})`;
      return { contents: text.replace(/\b__dirname\b/g, `(${where})`), loader: 'js' };
    });
    build.onLoad({ filter: /[\\/]dist[\\/]src[\\/].*\.js$/ }, (args) => {
      const text = fs.readFileSync(args.path, 'utf8');
      if (!/\b__(dirname|filename)\b/.test(text)) return undefined;
      const rel = (p) => JSON.stringify(path.relative(DIST, p).split(path.sep).join('/'));
      return {
        contents: text
          .replace(/\b__dirname\b/g, `__tsfBundled(${rel(path.dirname(args.path))})`)
          .replace(/\b__filename\b/g, `__tsfBundled(${rel(args.path)})`),
        loader: 'js',
      };
    });
  },
};

/**
 * etcd3's client definition (patches/etcd3+1.1.2.patch: protobufjs reflection built from proto/rpc.json at load,
 * coders generated at first use) becomes the static coders of scripts/etcd3-coders.js, written to `coders` first;
 * the descriptor it no longer reads is left out. Without protobufjs to make them (not expected: etcd3 needs it), the
 * bundle keeps etcd3's own definition and says so.
 */
function staticEtcdCoders(coders) {
  try {
    require('./etcd3-coders.js').writeEtcd3Coders(coders, ROOT);
  } catch (e) {
    process.stderr.write(`bundle: no static etcd coders (${e.message.split('\n')[0]}); etcd3 builds its own at run time\n`);
    return null;
  }
  const etcd3 = /[\\/]node_modules[\\/]etcd3[\\/]/;
  return {
    name: 'static-etcd-coders',
    setup(build) {
      build.onLoad({ filter: /[\\/]lib[\\/]client-definition\.js$/ }, (args) => (etcd3.test(args.path) ? {
        contents: `exports.clientDefinition = (_descriptor, options) => require(${JSON.stringify(coders)}).clientDefinition(options);`,
        loader: 'js', resolveDir: path.dirname(coders),
      } : undefined));
      build.onLoad({ filter: /[\\/]proto[\\/]rpc\.json$/ }, (args) => (etcd3.test(args.path) ? { contents: '{}', loader: 'json' } : undefined));
      // With the coders static, only grpc-js's channelz and ORCA (a gRPC server's features, loaded on first use)
      // name proto-loader: a stub keeps it and protobufjs's reflection (~130 KiB) out of the bundle.
      build.onResolve({ filter: /^@grpc\/proto-loader$/ }, (args) => (/[\\/]@grpc[\\/]grpc-js[\\/]/.test(args.importer)
        ? { path: 'proto-loader-stub', namespace: 'static-etcd-coders' } : undefined));
      build.onLoad({ filter: /^proto-loader-stub$/, namespace: 'static-etcd-coders' }, () => ({
        contents: 'exports.loadSync = () => { throw new Error("@grpc/proto-loader is not in the tsflanneld bundle (gRPC channelz/ORCA are not used)"); };',
        loader: 'js',
      }));
    },
  };
}

/**
 * grpc-js tells a subchannel's address family with net.isIPv6 (to write "[host]:port" and to interleave families).
 * Node's isIPv6 is one large regular expression that V8 compiles at its first use, then again to machine code at its
 * second: ~4 ms of CPU on the way to etcd at every start. A subchannel's host is always an IP literal (the resolvers
 * hand only addresses on), and an IP literal is IPv6 exactly when it has a colon: that test stands in for it in those
 * two files. A grpc-js whose files no longer have the call fails the build, so that a change there is looked at.
 */
const GRPC_FAMILY_FILES = /[\\/]@grpc[\\/]grpc-js[\\/]build[\\/]src[\\/](subchannel-address|load-balancer-pick-first)\.js$/;
const GRPC_IS_IPV6 = '(0, net_1.isIPv6)(';
const ipLiteralFamily = {
  name: 'ip-literal-family',
  setup(build) {
    build.onLoad({ filter: GRPC_FAMILY_FILES }, (args) => {
      const text = fs.readFileSync(args.path, 'utf8');
      if (!text.includes(GRPC_IS_IPV6)) throw new Error(`${args.path}: no ${GRPC_IS_IPV6}...) left to replace (grpc-js changed)`);
      const contents = `${text.split(GRPC_IS_IPV6).join('__tsfIpLiteralIsV6(')}
function __tsfIpLiteralIsV6(host) { return host.includes(':'); }
`;
      return { contents, loader: 'js' };
    });
  },
};

/** Runs first in the bundle: __tsfBundled (see relocate) and where pino's transport finds its worker file. */
const BANNER = [
  'const __tsfBundled=(p)=>require("node:path").join(__dirname,p);',
  'Object.defineProperty(globalThis,"__bundlerPathsOverrides",{configurable:true,get(){const pino=require.resolve("pino");',
  'return{"thread-stream-worker":require.resolve("thread-stream/lib/worker.js",{paths:[pino]})};}});',
].join('');

async function main() {
  let esbuild;
  try {
    esbuild = require('esbuild');
  } catch {
    process.stderr.write('bundle: esbuild is not installed (a devDependency); the command runs dist/src as is\n');
    fs.rmSync(OUT, { force: true });
    return;
  }
  const result = await esbuild.build({
    entryPoints: [path.join(DIST, 'src', 'cli.js')],
    outfile: OUT,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: EXTERNAL_PACKAGES,
    plugins: [relocate, ipLiteralFamily, staticEtcdCoders(path.join(DIST, 'etcd3-coders.js'))].filter((p) => p !== null),
    // Whitespace and syntax only: names stay, so error messages naming a class or function read as before.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'eof',
    banner: { js: BANNER },
    logLevel: 'warning',
    // grpc-logging.ts resolves etcd3 only when it runs unbundled (it checks for the bundle first).
    logOverride: { 'require-resolve-not-external': 'silent' },
    metafile: true,
  });
  const inputs = Object.keys(result.metafile.inputs).length;
  const bytes = fs.statSync(OUT).size;
  process.stderr.write(`bundle: ${path.relative(ROOT, OUT)} (${inputs} modules, ${(bytes / 1024).toFixed(0)} KiB)\n`);
}

main().catch((e) => {
  process.stderr.write(`bundle: ${e.message.split('\n')[0]}\n`);
  process.exit(1);
});
