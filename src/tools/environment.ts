// The variables of the environment that the embedded Node.js, libuv or the C library read only
// after the executable has started, and that would change what a root tool does: each is removed
// from the environment (process.env is the process's real environment: unsetenv) before any other
// module of the bundle runs (src/tools/scrub-environment.ts, imported first by every entry). What is
// read during Node's own start-up cannot be removed this way: build/build.mjs pins those with the
// SEA blob's flags, or the tools make the choice explicit (TLS: net/tls.ts). README "Environment
// the tools ignore" has the whole list, with what still acts and why that is harmless.

/** Each variable removed, with what it would have done. */
export const SCRUBBED: Readonly<Record<string, string>> = {
  NODE_TLS_REJECT_UNAUTHORIZED: 'read by every TLS connection: 0 turns certificate checks off (net/tls.ts also sets rejectUnauthorized)',
  NODE_CLUSTER_SCHED_POLICY: 'read when node:cluster loads (for NODE_UNIQUE_ID, see leaveClusterWorkerMode)',
  UV_THREADPOOL_SIZE: "read when libuv's thread pool starts (the first file-system job): up to 1024 threads",
  NODE_USE_ENV_PROXY: "read when node:http loads: its global agent would use HTTP_PROXY/HTTPS_PROXY (the tools' own agents never do)",
  HTTP_PROXY: 'a proxy for the global agent and fetch (with NODE_USE_ENV_PROXY)',
  HTTPS_PROXY: 'a proxy for the global agent and fetch (with NODE_USE_ENV_PROXY)',
  NO_PROXY: 'exceptions to the proxies above',
  http_proxy: 'as HTTP_PROXY',
  https_proxy: 'as HTTPS_PROXY',
  no_proxy: 'as NO_PROXY',
  HOSTALIASES: "read by the C library's resolver at its first DNS query: other names for a master's name",
  LOCALDOMAIN: "read by the C library's resolver: replaces the search domains of /etc/resolv.conf",
  RES_OPTIONS: "read by the C library's resolver: replaces the options of /etc/resolv.conf",
};

/** Removes the SCRUBBED variables from env; returns the names it removed. */
export function scrubEnvironment(env: NodeJS.ProcessEnv): string[] {
  const removed: string[] = [];
  for (const name of Object.keys(SCRUBBED)) {
    if (Object.hasOwn(env, name)) {
      delete env[name];
      removed.push(name);
    }
  }
  return removed;
}

/**
 * NODE_UNIQUE_ID makes Node's own start-up, before any code of ours, set this process up as a
 * cluster worker (and remove the variable). node:net then hands every listen to a cluster primary
 * over an IPC channel that does not exist: wwgetfiles' lock never got its socket, the event loop ran
 * empty and the run ended with exit 0, nothing done. No executable of ours is ever a cluster worker:
 * tell node:cluster so, which node:net asks at each listen. Returns whether it had to.
 */
export function leaveClusterWorkerMode(): boolean {
  // Only when start-up loaded node:cluster: loading it here would cost start-up time for nothing.
  // (process.moduleLoadList: undocumented, in every Node.js since 0.x; the names of the built-in modules loaded)
  const loaded = (process as unknown as { moduleLoadList?: string[] }).moduleLoadList ?? [];
  if (!loaded.includes('NativeModule cluster')) return false;
  const cluster = process.getBuiltinModule('node:cluster') as unknown as { isWorker: boolean };
  if (!cluster.isWorker) return false;
  Object.assign(cluster, { isWorker: false, isPrimary: true, isMaster: true, worker: undefined });
  return true;
}
