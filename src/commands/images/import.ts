import { Args, Flags } from '@oclif/core';
import { MicroK8sCommand } from '../../lib/command.js';
import { nodeCtrTarget } from '../../services/images/ctr.js';
import { importImageArchive } from '../../services/images/transfer.js';

export default class ImagesImport extends MicroK8sCommand {
  static override summary = "Import an image archive into the node's containerd (k8s.io namespace).";
  static override description =
    'FILE (or - for stdin) is an OCI image-layout tar or a docker-archive tar, plain or gzip. It is checked first (every blob present, sizes and sha256 right), then imported with its full names kept. Exit codes: 0 imported, 3 containerd not running (MK_CONTAINERD_UNAVAILABLE), 4 not an image (MK_IMAGE_INVALID), 1 containerd refused it.';
  static override examples = [
    '<%= config.bin %> images import busybox.tar',
    'docker save nginx:1.27 | <%= config.bin %> images import -',
    '<%= config.bin %> images import --pinned pause.tar --json',
  ];
  static override enableJsonFlag = true;
  static override args = {
    file: Args.string({ description: 'the archive, or - to read it from stdin', required: true }),
  };
  static override flags = {
    'all-platforms': Flags.boolean({
      description: "import every platform's content (the archive must hold it all)",
    }),
    pinned: Flags.boolean({ description: "keep the images out of the kubelet's image garbage collection" }),
  };

  async run() {
    const { args, flags } = await this.parse(ImagesImport);
    const report = await importImageArchive(nodeCtrTarget(), args.file, {
      allPlatforms: flags['all-platforms'],
      pinned: flags.pinned,
    });
    for (const image of report.images) {
      this.log(
        `Imported ${image.name ?? '(unnamed)'} ${image.digest} (${report.format}, ${image.platform ?? '?'})`,
      );
    }
    return report;
  }
}
