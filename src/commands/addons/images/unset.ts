import { Args } from '@oclif/core';
import { unsetImageMapping } from '../../../addons/image-table.js';
import { MicroK8sCommand } from '../../../lib/command.js';
import { resolvePaths } from '../../../lib/paths.js';

export default class ImagesUnset extends MicroK8sCommand {
  static override summary = 'Drop your mapping of an upstream image (a built-in mapping applies again).';
  static override description = 'An image without an override of yours is MK_IMAGE_MAPPING_UNKNOWN (exit 4).';
  static override enableJsonFlag = true;
  static override args = {
    upstream: Args.string({ description: 'the upstream image', required: true }),
  };

  async run() {
    const { args } = await this.parse(ImagesUnset);
    await unsetImageMapping(resolvePaths(), args.upstream);
    this.log(`removed the override of ${args.upstream}`);
    return { unset: args.upstream };
  }
}
