import { Command } from 'commander';
import type { Etcd3 } from 'etcd3';
import { SourceError } from '../errors.js';
import { drainMarkWrites, isRecordKey, knownNodes, locateNode, type LocatedNode, type MarkWrite } from '../galera/drain-mark.js';
import { decodeServices } from '../model/decode-cluster.js';
import { writerKeyOf, type ServiceSpec } from '../model/service.js';
import type { ServerNaming } from '../model/server-name.js';
import type { StoredKeyValue } from '../model/types.js';
import { CommandFailed } from './command-failed.js';
import { ExitCode, type CliIO } from './io.js';
import { addInspectFlags, resolveInspectSetup, type InspectFlags } from './inspect-setup.js';

interface Found {
  readonly service: ServiceSpec;
  readonly node: LocatedNode | null;
  readonly known: readonly string[];
}

async function findNode(client: Etcd3, services: readonly ServiceSpec[], serverNames: ServerNaming, wanted: string): Promise<Found[]> {
  const { readPrefixOnce } = await import('../source/prefix-read.js');
  const found: Found[] = [];
  for (const service of services) {
    let kvs: StoredKeyValue[];
    try {
      // Not nodes: the writer record (wherever `writer-key` puts it) and the other `_` keys.
      kvs = (await readPrefixOnce(client, service.prefix)).kvs.filter((kv) => !isRecordKey(service.prefix, kv.key) && kv.key !== writerKeyOf(service));
    } catch (err) {
      throw new SourceError('ETCD_UNAVAILABLE', `cannot read ${service.prefix} from etcd`, { cause: err });
    }
    const state = decodeServices([service], kvs, { serverNames });
    found.push({ service, node: locateNode(service.prefix, kvs, state, wanted), known: knownNodes(service.prefix, kvs, state) });
  }
  return found;
}

async function applyWrite(client: Etcd3, write: MarkWrite): Promise<void> {
  if (write.kind === 'delete') {
    await client.delete().key(write.key);
    return;
  }
  const put = client.put(write.key).value(write.value);
  if (write.lease !== '0') put.lease(write.lease);
  if (write.ifModRevision === undefined) {
    await put;
    return;
  }
  const res = await client.if(write.key, 'Mod', '==', write.ifModRevision).then(put).commit();
  if (!res.succeeded) throw new CommandFailed(`${write.key} changed while it was being rewritten (the node re-registered?); run the command again`, ExitCode.failed);
}

/**
 * `galera-haproxy drain NODE` / `undrain NODE`: what a leaving `register` does on SIGTERM, by hand. The
 * mark takes the node's own lease, so it vanishes with the node; every watcher puts the server in (or
 * out of) DRAIN within one watch event, without a reload.
 */
export function createDrainCommand(io: CliIO, drain: boolean): Command {
  const name = drain ? 'drain' : 'undrain';
  const cmd = new Command(name)
    .argument('<node>', 'the node: its id under the prefix, or its server or host name as `status` shows it')
    .description(
      drain
        ? 'mark a node draining in etcd (<prefix>/<id>/draining = true, under the node\'s lease): proxies send it no new clients and its open sessions finish. Exit 0 done, 2 unknown node or bad flags, 4 etcd unreachable'
        : 'clear the draining mark of a node: proxies put it back in rotation. Exit 0 done, 2 unknown node or bad flags, 4 etcd unreachable',
    );
  addInspectFlags(cmd, name);
  return cmd.action(async (wanted: string, flags: InspectFlags) => {
    const setup = resolveInspectSetup(flags, io);
    const { createEtcdClient } = await import('../source/etcd-writer.js');
    const client = createEtcdClient(setup.etcd);
    try {
      const found = await findNode(client, setup.services, setup.serverNames, wanted);
      const hits = found.filter((f): f is Found & { node: LocatedNode } => f.node !== null);
      const hit = hits[0];
      if (hit === undefined) {
        const known = found.flatMap((f) => f.known.map((k) => (found.length > 1 ? `${f.service.name}/${k}` : k)));
        const where = setup.services.map((s) => s.prefix).join(', ');
        throw new CommandFailed(`no node ${JSON.stringify(wanted)} under ${where} (registered: ${known.length === 0 ? 'none' : known.join(', ')})`, ExitCode.usage);
      }
      if (hits.length > 1) {
        throw new CommandFailed(`node ${JSON.stringify(wanted)} is registered in several services (${hits.map((h) => h.service.name).join(', ')}): give --service`, ExitCode.usage);
      }
      const writes = drainMarkWrites(hit.service.prefix, hit.node, drain);
      try {
        for (const write of writes) await applyWrite(client, write);
      } catch (err) {
        if (err instanceof CommandFailed) throw err;
        throw new SourceError('ETCD_UNAVAILABLE', `cannot write the draining mark of ${hit.node.id}`, { cause: err });
      }
      const who = `${hit.service.name}: node ${hit.node.id}`;
      const lease = writes.find((w): w is Extract<MarkWrite, { kind: 'put' }> => w.kind === 'put')?.lease;
      if (writes.length === 0) io.stdout.write(`${who} is ${drain ? 'already' : 'not'} draining\n`);
      else if (drain) {
        const bound = lease === undefined || lease === '0' ? 'without a lease (its keys have none)' : `under its lease ${BigInt(lease).toString(16)}`;
        io.stdout.write(`${who} marked draining ${bound}: no new clients through HAProxy, open sessions finish\n`);
      } else io.stdout.write(`${who} no longer draining: back in rotation\n`);
    } finally {
      client.close();
    }
  });
}
