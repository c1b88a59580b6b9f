import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type * as Sea from 'node:sea';

/**
 * The standalone binary (a Node single executable application, built by `.ci/build-binary`) carries
 * files that libraries insist on reading from disk: the default template (nunjucks' FileSystemLoader)
 * and etcd3's `proto/*.proto` (loaded by `@grpc/proto-loader` when the module is first required).
 * They travel as SEA assets and are unpacked once into a private directory, whose path the template
 * default and the bundled etcd3 ask for here. Outside the binary every function returns `undefined`
 * and the files are read from the package as usual.
 */

/** The asset that lists the others: Node 20 cannot enumerate asset keys. Written by `.ci/build-binary`. */
export const MANIFEST_ASSET = 'sea-manifest.json';

export interface SeaManifest {
  /** A digest of every embedded file: names the unpack directory, so a new binary never reuses old files. */
  readonly digest: string;
  /** Asset keys, which are also paths relative to the unpack directory (`templates/haproxy.cfg.njk`). */
  readonly files: readonly string[];
}

let unpacked: string | null | undefined;

/** The directory holding the embedded files, unpacked on first use; `undefined` when not in the binary. */
export function embeddedAssetDir(): string | undefined {
  if (unpacked === undefined) {
    const sea = loadSea();
    unpacked = sea?.isSea() ? unpackAssets(sea, tmpdir()) : null;
  }
  return unpacked ?? undefined;
}

/** `relative` (an asset key such as `templates/haproxy.cfg.njk`) on disk, or `undefined` when not in the binary. */
export function embeddedAssetPath(relative: string): string | undefined {
  const dir = embeddedAssetDir();
  return dir === undefined ? undefined : path.join(dir, relative);
}

/**
 * `node:sea` exists only from Node 20.12, and a static import would fail earlier versions that
 * `engines` still allows; `process.getBuiltinModule` works in the ESM build and in the CJS bundle alike.
 */
function loadSea(): typeof Sea | undefined {
  const getBuiltin = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
  if (typeof getBuiltin !== 'function') return undefined;
  return getBuiltin('node:sea') as typeof Sea | undefined;
}

/**
 * Unpacks into `<tmp>/galera-haproxy-<uid>-<digest>`: the files are the same for every run of one
 * binary, so a directory already there is reused and nothing is left behind per process (a daemon
 * killed with SIGKILL cannot clean up). The directory is written under a temporary name and renamed,
 * so a reader sees all of it or none; one found in place is trusted only if it is a real directory,
 * ours, and closed to others (a shared /tmp lets anyone create names there first).
 */
export function unpackAssets(sea: Pick<typeof Sea, 'getAsset'>, root: string): string {
  const manifest = JSON.parse(sea.getAsset(MANIFEST_ASSET, 'utf8')) as SeaManifest;
  const uid = process.getuid?.() ?? 0;
  const target = path.join(root, `galera-haproxy-${uid}-${manifest.digest}`);
  if (isUsable(target, uid, manifest.files)) return target;
  // Ours but incomplete: age-based /tmp cleaners (systemd-tmpfiles) remove old files one by one.
  if (isPrivateDir(target, uid)) rmSync(target, { recursive: true, force: true });

  let staging: string;
  try {
    staging = mkdtempSync(path.join(root, `.galera-haproxy-${uid}-`));
  } catch (err) {
    throw new Error(`cannot unpack the embedded template and protocol files into ${root} (set TMPDIR to a writable directory)`, { cause: err });
  }
  try {
    const hash = createHash('sha256');
    for (const key of manifest.files) {
      const bytes = Buffer.from(sea.getAsset(key));
      hash.update(key).update('\0').update(bytes);
      const file = path.join(staging, key);
      mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      writeFileSync(file, bytes, { mode: 0o600 });
    }
    if (!hash.digest('hex').startsWith(manifest.digest)) throw new Error('embedded files do not match their manifest digest');
    renameSync(staging, target);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    // Another process of the same binary won the rename: its copy is as good as ours.
    if (isUsable(target, uid, manifest.files)) return target;
    throw new Error(`cannot unpack the embedded template and protocol files into ${root}`, { cause: err });
  }
  return target;
}

function isUsable(dir: string, uid: number, files: readonly string[]): boolean {
  return isPrivateDir(dir, uid) && files.every((file) => existsSync(path.join(dir, file)));
}

function isPrivateDir(dir: string, uid: number): boolean {
  try {
    const stat = lstatSync(dir);
    return stat.isDirectory() && stat.uid === uid && (stat.mode & 0o077) === 0;
  } catch {
    return false;
  }
}
