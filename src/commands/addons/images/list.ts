import { listImageMappings } from '../../../addons/image-table.js';
import { MicroK8sCommand } from '../../../lib/command.js';
import { resolvePaths } from '../../../lib/paths.js';

export default class ImagesList extends MicroK8sCommand {
  static override summary = 'List the images table: built-in mappings and your overrides (yours win).';
  static override enableJsonFlag = true;

  async run() {
    await this.parse(ImagesList);
    const mappings = listImageMappings(resolvePaths());
    for (const m of mappings) {
      const note =
        m.source === 'user' ? (m.overrides ? ` (yours; built in: ${m.overrides})` : ' (yours)') : '';
      this.log(`${m.upstream} -> ${m.local}${note}`);
    }
    return { images: mappings };
  }
}
