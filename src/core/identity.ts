// Who this process runs as. Root may bind privileged source ports, give files their listed
// owners and use the system-wide lock directory; anyone else may not. Read once, here, by the
// tools (tools/run.ts) and passed down, so every decision in a run sees the same answer and a
// test can say who it runs as without being that user.
export interface Identity {
  uid: number;
  root: boolean;
}

/** The identity of this process. */
export function processIdentity(): Identity {
  // process.getuid exists on every POSIX system. Without it there is no uid to match a file's
  // owner against: -1 owns nothing and is not root, so nothing is trusted as ours or tried as root.
  const uid = process.getuid?.() ?? -1;
  return { uid, root: uid === 0 };
}
