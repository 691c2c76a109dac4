import pkg from '../package.json' with { type: 'json' };

export const VERSION: string = pkg.version;

export function versionLine(tool: string): string {
  return `${tool} (wwruntime) ${VERSION}, Node.js ${process.version}`;
}
