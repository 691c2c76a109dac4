// Types of targets.mjs (the values are there, only there).
export interface Arch {
  npm: string;
  debArch: string;
  triplet: string;
  uname: string;
  loader: string;
  machine: string;
  elfMachine: number;
  isa: string;
  strip: string;
  codeCache: boolean;
}
export const ARCHS: Record<'linux-x64' | 'linux-arm64', Arch>;
export const HOST_ARCH: 'linux-x64';
export const TOOLS: string[];
export const MULTICALL: string;
export const EXECUTABLES: string[];
export const CAPABILITY_NAME: string;
export const STEP_NAME: string;
export const TRANSPORT_DIR: string;
export const LEAN_CAPABILITY_NAME: string;
export const LEAN_MANIFEST: string;
export const BOOTSTRAP_FILES: string[];
