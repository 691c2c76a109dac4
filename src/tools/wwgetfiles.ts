// wwgetfiles: placeholder until its issue lands; builds and answers --help/--version.
import { EXIT, WwError } from '../core/errors.ts';
import { COMMON_OPTIONS, EXIT_HELP, guarded, handleInfo, parse, type Tool, type ToolIO } from './common.ts';

const NAME = 'wwgetfiles';
const HELP = `Usage: ${NAME} [options]
Not implemented yet in this build.
${EXIT_HELP}`;

export const wwgetfiles: Tool = {
  name: NAME,
  summary: 'not implemented yet',
  main: (io: ToolIO) =>
    guarded(io, NAME, async () => {
      const { values } = parse(io.argv, COMMON_OPTIONS);
      if (handleInfo(io, values, NAME, HELP)) return EXIT.OK;
      throw new WwError('config', `${NAME} is not implemented in this build`);
    }),
};
