import { Args, Flags } from '@oclif/core';
import { MicroK8sCommand } from '../../lib/command.js';
import { MicroK8sError } from '../../lib/errors.js';
import { nodeCtrTarget } from '../../services/images/ctr.js';
import { exportLocalImages } from '../../services/images/transfer.js';

export default class ImagesExportLocal extends MicroK8sCommand {
  static override summary = "Export images from the node's containerd into one OCI archive.";
  static override description =
    'Without NAMES, every image built here (named localhost/...) is exported. The archive is an OCI image layout with a docker manifest.json, which `microk8s images import` takes on another node. Exit codes: 0 written, 3 containerd not running (MK_CONTAINERD_UNAVAILABLE), 1 containerd refused (MK_IMAGE_CTR_FAILED).';
  static override examples = [
    '<%= config.bin %> images export-local --output local-images.tar',
    '<%= config.bin %> images export-local localhost/microk8s/pause:3.10-mk1 > pause.tar',
  ];
  static override strict = false;
  static override enableJsonFlag = true;
  static override args = {
    names: Args.string({ description: 'full image names (default: every localhost/... image)' }),
  };
  static override flags = {
    output: Flags.string({
      char: 'o',
      description: 'the archive to write; - (the default) is stdout',
      default: '-',
    }),
    'all-platforms': Flags.boolean({ description: "export every platform's content" }),
  };

  async run() {
    const { argv, flags } = await this.parse(ImagesExportLocal);
    const names = argv as string[];
    if (flags.output === '-' && this.jsonEnabled()) {
      throw new MicroK8sError('MK_USAGE', '--json needs --output FILE: stdout carries the archive');
    }
    const result = await exportLocalImages(nodeCtrTarget(), names, flags.output, process.stdout, {
      allPlatforms: flags['all-platforms'],
    });
    // With the archive on stdout, the summary goes to stderr.
    const say = (line: string) => (flags.output === '-' ? process.stderr.write(`${line}\n`) : this.log(line));
    for (const image of result.report.images) say(`Exported ${image.name ?? '(unnamed)'} ${image.digest}`);
    return { output: flags.output, names: result.names, images: result.report.images };
  }
}
