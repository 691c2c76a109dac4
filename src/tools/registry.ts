import { fleet } from './fleet.ts';
import type { Tool } from './tool.ts';
import { wwgetfiles } from './wwgetfiles.ts';
import { wwgetnodeconfig } from './wwgetnodeconfig.ts';
import { wwgetscript } from './wwgetscript.ts';
import { wwgetvnfs } from './wwgetvnfs.ts';

export const TOOLS: Tool[] = [wwgetfiles, wwgetscript, wwgetvnfs, wwgetnodeconfig, fleet];
