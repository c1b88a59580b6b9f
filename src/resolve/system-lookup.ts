import { lookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import type { LookupHost } from './resolve-hosts.js';

export interface SystemLookupOptions {
  /**
   * A file in hosts(5) format read before the system resolver, at every lookup (it is small, and a
   * change must show at the next pass). For names the daemon host's /etc/hosts cannot carry, such as
   * an HAProxy in a container or chroot with hosts of its own; tests use it for names of their own.
   */
  readonly hostsFile?: string;
}

/** Parses hosts(5) text: `address name [alias…]`, `#` comments; names compare lower-case. */
export function parseHostsFile(text: string): Map<string, string[]> {
  const names = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const [address, ...aliases] = raw.replace(/#.*$/, '').trim().split(/\s+/);
    if (address === undefined || address === '') continue;
    for (const alias of aliases) {
      const name = alias.toLowerCase().replace(/\.$/, '');
      names.set(name, [...(names.get(name) ?? []), address]);
    }
  }
  return names;
}

/** getaddrinfo (nsswitch: /etc/hosts, then DNS), after the optional hosts file. */
export function createSystemLookup(options: SystemLookupOptions = {}): LookupHost {
  return async (name) => {
    if (options.hostsFile !== undefined) {
      let text: string;
      try {
        text = await readFile(options.hostsFile, 'utf8');
      } catch (err) {
        throw new Error(`cannot read --hosts-file ${options.hostsFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      const listed = parseHostsFile(text).get(name);
      if (listed !== undefined) return listed;
    }
    // Rejects with "getaddrinfo ENOTFOUND <name>" and the like: one line, fit for a rejection reason.
    return (await lookup(name, { all: true })).map((a) => a.address);
  };
}
