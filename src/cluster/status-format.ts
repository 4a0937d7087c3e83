/**
 * The text forms of `microk8s status` (the command prints them; --format json prints the data).
 * The pretty form keeps MicroK8s's wording (`high-availability:`, `datastore master nodes:`)
 * so that scripts and habits written for MicroK8s keep working.
 */
import { stringify } from 'yaml';
import { type ExternalDatastoreStatus, formatExternalPretty } from './kubernetes/external-status.js';
import { formatKubernetesHealth } from './kubernetes/health.js';
import type { ClusterStatus, MemberStatus } from './status.js';
import { formatWorkerPretty, type WorkerStatus } from './status-worker.js';

function memberLine(m: MemberStatus): string {
  const marks = [
    m.leader ? '(leader)' : '',
    m.self ? '(this node)' : '',
    m.draining ? '(draining)' : '',
    m.removal !== 'no' ? `(removal requested: ${m.removal})` : '',
  ]
    .filter(Boolean)
    .join(' ');
  const cells = [`${m.address ?? '(address unknown)'}`, `id ${m.id}`, m.failureDomain, `weight ${m.weight}`];
  return `    ${cells.join('  ')}${marks ? `  ${marks}` : ''}`;
}

function section(title: string, members: readonly MemberStatus[]): string[] {
  if (members.length === 0) return [`  ${title}: none`];
  return [`  ${title}:`, ...members.map(memberLine)];
}

function nameOf(m: MemberStatus): string {
  return m.address ? `${m.address} (id ${m.id})` : `id ${m.id}`;
}

function livenessLines(status: ClusterStatus): string[] {
  const { datastore } = status;
  const leader = datastore.leader;
  if (datastore.offline === null || datastore.dead === null) {
    const where = leader
      ? `: ask the leader, id ${leader.id}${leader.address ? ` (${leader.address})` : ''}`
      : '';
    return [`  members offline: unknown here (only the leader tracks liveness)${where}`];
  }
  const seconds = (m: MemberStatus) => Math.round((m.offlineMs ?? 0) / 1000);
  const offline = datastore.offline.map((m) => `${nameOf(m)} unheard for ${seconds(m)} s`);
  const dead = datastore.dead.map((m) => `${nameOf(m)} unheard for ${seconds(m)} s`);
  return [
    `  members offline: ${offline.join(', ') || 'none'}`,
    `  members dead: ${dead.join(', ') || 'none'}`,
  ];
}

/** `addonLines`: the addons section, read by the addons layer above this one (status command). */
export function formatStatusPretty(
  status: ClusterStatus | WorkerStatus | ExternalDatastoreStatus,
  addonLines?: readonly string[],
): string {
  if ('role' in status) return formatWorkerPretty(status);
  if ('external' in status.datastore)
    return formatExternalPretty(status as ExternalDatastoreStatus, addonLines);
  return formatEmbeddedPretty(status as ClusterStatus, addonLines);
}

function formatEmbeddedPretty(status: ClusterStatus, addonLines?: readonly string[]): string {
  const { datastore } = status;
  const leader = datastore.leader;
  const leaderText = leader
    ? `id ${leader.id}${leader.address ? ` (${leader.address})` : ''}${leader.self ? ', this node' : ''}`
    : 'none (electing, or cut off from a majority of voters)';
  const lines = [
    'microk8s is running',
    `high-availability: ${status.highAvailability ? 'yes' : 'no'}`,
    ...kubernetesLines(status),
    `  datastore leader: ${leaderText}`,
    ...section('datastore master nodes', datastore.voters),
    ...section('datastore standby nodes', datastore.standbys),
    ...section('datastore spare nodes', datastore.spares),
    ...livenessLines(status),
    ...(status.workers.length === 0
      ? []
      : [
          'worker nodes:',
          ...status.workers.map((w) => `  ${w.hostname}  ${w.address}  joined ${w.joinedAt}`),
        ]),
    ...(addonLines ?? ['addons:', '  unknown (not read)']),
  ];
  if (status.services.length > 0) {
    lines.push('services:');
    for (const s of status.services)
      lines.push(`  ${s.name}: ${s.running ? `running (pid ${s.pid})` : 'stopped'}`);
  }
  return lines.join('\n');
}

function kubernetesLines(status: ClusterStatus): string[] {
  return status.kubernetes ? [formatKubernetesHealth(status.kubernetes)] : [];
}

export function formatStatusYaml(status: ClusterStatus | WorkerStatus | ExternalDatastoreStatus): string {
  return stringify(status).trimEnd();
}
