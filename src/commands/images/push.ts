import { Args, Flags } from '@oclif/core';
import { MicroK8sCommand } from '../../lib/command.js';
import { pushImageArchive } from '../../services/images/registry-push.js';

export default class ImagesPush extends MicroK8sCommand {
  static override summary =
    'Push the image of an OCI image-layout tar to a registry (e.g. the registry addon).';
  static override description =
    "FILE is an OCI image-layout tar (plain or gzip) holding one image (or name it with --source); REFERENCE is HOST[:PORT]/PATH:TAG. Blobs the registry has already are not uploaded again; the manifest is stored byte for byte, so its digest stays the archive's. Plain HTTP for localhost and 127.x (the registry addon at localhost:32000), HTTPS otherwise unless --plain-http. No authentication. Exit codes: 0 pushed, 4 bad archive or reference (MK_IMAGE_INVALID, MK_INVALID_ARGUMENT), 1 the registry refused or did not answer (MK_REGISTRY_PUSH_FAILED).";
  static override examples = [
    '<%= config.bin %> images push busybox.tar localhost:32000/busybox:test',
    '<%= config.bin %> images push app.tar registry.example:5000/team/app:1.0 --plain-http --json',
  ];
  static override enableJsonFlag = true;
  static override args = {
    file: Args.string({ description: 'the OCI image-layout tar', required: true }),
    reference: Args.string({ description: 'where to push it: HOST[:PORT]/PATH:TAG', required: true }),
  };
  static override flags = {
    source: Flags.string({ description: "the archive's image to push, by its name, when it holds several" }),
    'plain-http': Flags.boolean({ description: 'plain HTTP even to a host other than localhost' }),
  };

  async run() {
    const { args, flags } = await this.parse(ImagesPush);
    const result = await pushImageArchive(args.file, args.reference, {
      ...(flags.source === undefined ? {} : { source: flags.source }),
      ...(flags['plain-http'] ? { plainHttp: true } : {}),
    });
    this.log(
      `Pushed ${result.reference} ${result.digest} (${result.uploaded} blobs uploaded, ${result.bytes} bytes; ${result.present} already there)`,
    );
    return result;
  }
}
