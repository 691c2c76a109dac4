// wwgetvnfs: streams, verifies and unpacks this node's VNFS image.
import '../tools/scrub-environment.ts'; // first: its module body runs before any other module reads the environment
import { runStandalone } from '../tools/run.ts';
import { wwgetvnfs } from '../tools/wwgetvnfs.ts';

runStandalone(wwgetvnfs);
