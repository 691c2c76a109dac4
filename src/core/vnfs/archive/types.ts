// What the archive readers hand to the extractor: one entry at a time, its data
// (if any) streamed on demand, never buffered whole.
export type EntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo' | 'socket';

export interface ArchiveEntry {
  /** The path as stored in the archive (not yet checked: see confine.ts). */
  path: string;
  type: EntryType;
  /** Permission bits including setuid/setgid/sticky (07777). */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch (may be fractional with pax). */
  mtime: number;
  atime?: number;
  /** Bytes of data that follow: file contents (also for a hard link that carries them). */
  size: number;
  /** Symbolic link target, or for a hard link the archive path of the entry it links to. */
  linkTarget?: string;
  rdevMajor: number;
  rdevMinor: number;
  /** Streams the entry's `size` data bytes to onChunk (awaited). At most once; unread data is skipped. */
  read(onChunk: (chunk: Buffer) => void | Promise<void>): Promise<void>;
}

export type ArchiveFormat = 'cpio-newc' | 'cpio-crc' | 'tar';
