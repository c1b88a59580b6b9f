import { Command } from 'commander';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, RenderError } from '../errors.js';
import { decodeCluster, normalizePrefix } from '../model/decode-cluster.js';
import type { KeyValue } from '../model/types.js';
import { createLiveConfig, logDiagnostic } from '../daemon/live-config.js';
import { CommandFailed } from './command-failed.js';
import { ExitCode, type CliIO } from './io.js';
import { addCommandFlags } from './pipeline-flags.js';
import { composePipeline, type CommandFlags } from './compose-pipeline.js';

interface RenderFlags extends CommandFlags {
  nodes?: string;
  check?: boolean;
}

/**
 * Keys of a `--nodes` file outside the prefix are skipped by the decoder, as a range read would never
 * return them; said in one line (how many, the prefix, one of them), since "0 valid nodes" alone hides
 * a file written for another prefix.
 */
export function describeIgnoredKeys(kvs: readonly KeyValue[], prefix: string, path: string): string | null {
  const base = normalizePrefix(prefix);
  const outside = kvs.filter((kv) => !kv.key.startsWith(base));
  if (outside.length === 0) return null;
  const example = JSON.stringify(outside[0]?.key);
  return `${outside.length} of ${kvs.length} key(s) in --nodes ${path} are outside --prefix ${prefix} and were ignored (e.g. ${example})`;
}

/** Reads a `--nodes` file: a JSON object of etcd keys to the values etcd would hold. */
export function parseNodesFile(text: string, path: string): KeyValue[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`--nodes ${path}: not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`--nodes ${path}: expected a JSON object mapping etcd keys to values`);
  }
  return Object.entries(parsed as Record<string, unknown>).map(([key, value]) => {
    if (typeof value === 'string') return { key, value };
    if (typeof value === 'number' || typeof value === 'boolean') return { key, value: String(value) };
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return { key, value: JSON.stringify(value) };
    throw new ConfigError(`--nodes ${path}: key ${JSON.stringify(key)}: value must be a string, number or JSON object`);
  });
}

export function createRenderCommand(io: CliIO): Command {
  const cmd = new Command('render').description(
    'Dry run: render haproxy.cfg from etcd (or --nodes FILE) and print it to stdout; touches nothing. --check also runs haproxy -c on it.',
  );
  addCommandFlags(cmd, 'render');
  return cmd.action(async (flags: RenderFlags) => {
    const pipeline = await composePipeline(flags, io, { apply: false });
    const { logger, options } = pipeline;
    let kvs: readonly KeyValue[];
    let revision: string;
    let origin: string | undefined;
    let ignored: string | null = null;
    if (flags.nodes !== undefined) {
      kvs = parseNodesFile(await readFile(flags.nodes, 'utf8').catch((err: unknown) => {
        throw new ConfigError(`--nodes ${flags.nodes}: ${(err as Error).message}`);
      }), flags.nodes);
      revision = 'file';
      origin = `nodes file ${flags.nodes}`;
      ignored = describeIgnoredKeys(kvs, options.prefix, flags.nodes);
      if (ignored !== null) logger.warn(ignored);
    } else {
      try {
        ({ kvs, revision } = await (await pipeline.source()).readOnce());
      } finally {
        await (await pipeline.source()).close();
      }
    }
    // The file shows what the daemon would write: host names resolved to IPs.
    const state = await pipeline.hosts.resolve(decodeCluster(options.prefix, kvs, { serverNames: pipeline.serverNames }), logger);
    for (const r of state.rejected) logger.warn({ key: r.key, node: r.id }, `node rejected: ${r.key}: ${r.reason}`);
    if (state.nodes.length < options.minServers) {
      const why = ignored === null ? '' : `: ${ignored}`;
      throw new CommandFailed(`${state.nodes.length} valid node(s) under ${options.prefix}, fewer than --min-servers ${options.minServers}${why}`, ExitCode.rejected);
    }
    let config: string;
    try {
      config = pipeline.template.renderer.render(state, origin === undefined ? { revision } : { revision, origin });
    } catch (err) {
      throw err instanceof RenderError ? err : new RenderError(`render failed: ${(err as Error).message}`, { cause: err });
    }
    if (flags.check === true) {
      const dir = await mkdtemp(join(tmpdir(), 'galera-haproxy-render-'));
      try {
        const live = createLiveConfig({ path: join(dir, 'haproxy.cfg'), haproxyBin: options.haproxyBin, checkTimeoutMs: options.checkTimeoutMs });
        const check = await live.check(config);
        for (const d of check.diagnostics) logDiagnostic(logger, d);
        if (!check.ok) throw new CommandFailed(`haproxy -c rejected the rendered config: ${check.summary}`, ExitCode.rejected);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    io.stdout.write(config);
  });
}
