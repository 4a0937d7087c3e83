import { Args } from '@oclif/core';
import { setImageMapping } from '../../../addons/image-table.js';
import { MicroK8sCommand } from '../../../lib/command.js';
import { resolvePaths } from '../../../lib/paths.js';

export default class ImagesSet extends MicroK8sCommand {
  static override summary =
    "Map an addon's upstream image to another image on this node (overrides a built-in mapping).";
  static override description =
    'Both are full references (REGISTRY/PATH:TAG). Addon manifests naming UPSTREAM then run LOCAL. A name that is not an image reference is MK_INVALID_ARGUMENT (exit 4); nothing is written.';
  static override examples = [
    '<%= config.bin %> addons images set registry.k8s.io/ingress-nginx/controller:v1.14.1 mirror.example:5000/ingress-nginx/controller:v1.14.1',
  ];
  static override enableJsonFlag = true;
  static override args = {
    upstream: Args.string({ description: 'the image an addon manifest names', required: true }),
    local: Args.string({ description: 'the image to run instead', required: true }),
  };

  async run() {
    const { args } = await this.parse(ImagesSet);
    await setImageMapping(resolvePaths(), args.upstream, args.local);
    this.log(`${args.upstream} -> ${args.local}`);
    return { upstream: args.upstream, local: args.local };
  }
}
