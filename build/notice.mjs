// The NOTICE shipped with every architecture folder (dist/ARCH/NOTICE, the capability, any package
// made from them): each bundled component, its licence, its exact version and where its source is,
// then the full copyright and licence texts that came with the components.
import { existsSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { put } from './lib.mjs';

/**
 * @param {{ arch: string, out: string, nodeDir: string, nodeVersion: string, npmName: string, debroot: string,
 *   packages: { package: string, version: string, arch: string, source: string, sourceVersion: string, paths: Set<string> }[],
 *   pins: any, runtime: { interp: string, libs: string[], from: Record<string, string> }, license: string }} o
 */
export function writeNotice(o) {
  const bySource = new Map();
  for (const p of o.packages) {
    if (!bySource.has(p.source)) bySource.set(p.source, { version: p.sourceVersion, pkgs: [] });
    bySource.get(p.source).pkgs.push(p);
  }
  const libsOf = (p) => {
    const owned = o.runtime.libs.filter((l) => p.paths.has(o.runtime.from[l]));
    return owned.length ? owned.map((l) => `lib/${l}`).join(', ') : '(no file: its copyright notice only)';
  };
  const unowned = o.runtime.libs.filter((l) => !o.packages.some((p) => p.paths.has(o.runtime.from[l])));
  if (unowned.length) throw new Error(`notice: no pinned package holds ${unowned.join(', ')}`);
  const parts = [];
  parts.push(`wwruntime ${o.arch}: bundled components and their licences
${'='.repeat(60)}

bin/ holds the wwruntime executables: each is the Node.js runtime with the wwruntime tools
embedded. lib/ holds the C runtime they run on, taken unmodified from Debian 12 packages.

1. wwruntime tools (the JavaScript embedded in every executable of bin/)
   Licence: ${o.license}.
   Source: this project's repository (the commit this build was made from).

2. Node.js ${o.nodeVersion} (the official release binary, npm package ${o.npmName}@${o.nodeVersion};
   stripped of debug symbols, SEA blob injected, interpreter and run path set by patchelf)
   Licence: MIT. Node.js contains third-party components (V8, libuv, OpenSSL, ICU, zlib,
   llhttp, nghttp2, ngtcp2, c-ares, simdjson, ...), each under its own licence: all are
   listed with their full texts in Node.js's LICENSE, reproduced at the end of this file.
   Source: the Node.js project's v${o.nodeVersion} release source tarball, node-v${o.nodeVersion}.tar.gz.
`);
  let i = 3;
  for (const [source, s] of bySource) {
    const lic = o.pins.sources[source]?.licence ?? 'see the copyright file below';
    const title =
      source === 'glibc' ? 'GNU C Library (glibc)' : source.startsWith('gcc') ? 'GCC runtime libraries (libstdc++, libgcc_s)' : source;
    parts.push(`${i++}. ${title}, Debian source package ${source} version ${s.version}
   Licence: ${lic}.
${s.pkgs.map((p) => `   Binary package ${p.package} ${p.version} (${p.arch}): ${libsOf(p)}`).join('\n')}
   Source: Debian source package ${source}=${s.version}: \`apt-get source ${source}=${s.version}\`
   with a Debian 12 (bookworm) deb-src entry, or from the Debian snapshot archive
   (package ${source}, version ${s.version}). Licence texts named by the copyright file
   are in /usr/share/common-licenses/ on any Debian system.
`);
  }
  for (const [source, s] of bySource) {
    const seen = new Set();
    for (const p of s.pkgs) {
      const f = join(o.debroot, 'usr/share/doc', p.package, 'copyright');
      if (!existsSync(f)) continue;
      const real = realpathSync(f);
      if (seen.has(real)) continue;
      seen.add(real);
      parts.push(
        `${'-'.repeat(72)}\nDebian copyright file of ${p.package} ${p.version} (source ${source} ${s.version}):\n\n${readFileSync(real, 'utf8')}`,
      );
    }
    if (seen.size === 0) throw new Error(`notice: no Debian copyright file for source ${source}`);
  }
  parts.push(
    `${'-'.repeat(72)}\nNode.js ${o.nodeVersion} LICENSE (from ${o.npmName}@${o.nodeVersion}):\n\n${readFileSync(join(o.nodeDir, 'LICENSE'), 'utf8')}`,
  );
  put(o.out, (tmp) => writeFileSync(tmp, parts.join('\n')));
}
