// wwruntime: the four tools in one executable, chosen by the name it is invoked by (a symlink
// named after the tool) or by its first argument.
import '../tools/scrub-environment.ts'; // first: its module body runs before any other module reads the environment
import { TOOLS } from '../tools/registry.ts';
import { runMulticall } from '../tools/run.ts';

runMulticall(TOOLS);
