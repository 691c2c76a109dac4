// Built-in modules that only some paths of a tool need, loaded on first use
// instead of at start-up: each costs 1-3 ms of start-up when loaded there (node:tls and
// node:https, ~10 ms, are loaded the same way in net/socket.ts; node:zlib in inflate.ts).
// `--version`, `--help`, wwgetnodeconfig and wwgetscript never load them.
export const lazyCrypto = () => process.getBuiltinModule('node:crypto');
export const lazyChildProcess = () => process.getBuiltinModule('node:child_process');
