// wwgetnodeconfig: prints this node's configuration.
import '../tools/scrub-environment.ts'; // first: its module body runs before any other module reads the environment
import { runStandalone } from '../tools/run.ts';
import { wwgetnodeconfig } from '../tools/wwgetnodeconfig.ts';

runStandalone(wwgetnodeconfig);
