// Who the tool runs as, read once at the edge and passed down.
export interface Identity { uid: number; root: boolean }

export function processIdentity(): Identity {
  const uid = process.getuid?.() ?? 0;
  return { uid, root: uid === 0 };
}
