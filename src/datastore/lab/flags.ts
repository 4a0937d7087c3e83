import { join } from 'node:path';
import { Flags } from '@oclif/core';
import { resolvePaths } from '../../lib/paths.js';

/** The lab folder: --dir, or `lab` under this user's microk8s folder. */
export const labDirFlag = Flags.string({
  description: 'folder of the lab (default: <MICROK8S_HOME>/common/lab)',
  default: async () => join(resolvePaths().common, 'lab'),
});
