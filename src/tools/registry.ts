import { fleet } from './fleet.ts';
import { status } from './status.ts';
import type { Tool } from './tool.ts';
import { wwgetfiles } from './wwgetfiles.ts';
import { wwgetnodeconfig } from './wwgetnodeconfig.ts';
import { wwgetscript } from './wwgetscript.ts';
import { wwgetvnfs } from './wwgetvnfs.ts';

// `status` only in the multi-call executable (wwruntime status): no standalone executable (build/targets.mjs).
export const TOOLS: Tool[] = [wwgetfiles, wwgetscript, wwgetvnfs, wwgetnodeconfig, fleet, status];
